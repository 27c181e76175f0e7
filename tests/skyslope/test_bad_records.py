"""SkySlope records with wrong JSON types are quarantined with a reason; quirks are not errors.

Real sandbox over HTTP (the ``malformed_types`` record fault), real dlt loads, real PostgreSQL.
"""

from __future__ import annotations

import re

import httpx
import pytest

from dlt_pipelines.checks import InvalidRecord, check_types
from dlt_pipelines.skyslope import run_entity
from dlt_pipelines.skyslope.validate import FILE_FIELDS, LIST_ROW_FIELDS
from tests.skyslope.conftest import rows, truth

AGENT = 101
REASON = re.compile(r"^list row: (?P<field>[A-Za-z_]\w*)(\.\w+|\[\d+\])* is not (a|an) .+: .+$")


@pytest.mark.slow
def test_wrong_typed_listing_is_quarantined_and_the_rest_loads(register_agents, sandbox_server):
    register_agents(AGENT)
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults",
        json={"spec": "skyslope:/api/files/listings:malformed_types:1"},
    ).raise_for_status()
    result = run_entity(AGENT, "onboarding", None, "listings")
    faults = httpx.get(f"{sandbox_server.url}/_sandbox/faults").json()["faults"]
    assert faults[0]["hits"] == 1, faults

    quarantined = rows(
        "select entity, record_id, reason, record from ops.quarantine where source = 'skyslope'"
    )
    assert len(quarantined) == 1, quarantined
    entity, record_id, reason, record = quarantined[0]
    assert entity == "listings" and record["listingGuid"] == record_id
    match = REASON.match(reason)
    assert match and match["field"] in record, reason

    want = set(truth(sandbox_server, "skyslope", AGENT, "listings")["ids"])
    assert record_id in want
    got = {
        r[0]
        for r in rows("select listing_guid from raw_skyslope.listings where user_id = :u", u=AGENT)
    }
    assert got == want - {record_id}
    assert result.quarantined == 1 and result.rows == len(want) - 1


def test_documented_quirks_and_nulls_are_not_wrong_types():
    """``0001-01-01`` dates, naive datetimes, control characters, blanks and nulls all pass."""
    row = {
        "listingGuid": "g-1",
        "status": "Active\x07",
        "actualClosingDate": "0001-01-01T00:00:00",
        "escrowClosingDate": None,
        "modifiedOn": "2020-10-13T18:38:42.997",
        "propertyAddress": "1 Main\x0b St",
        "teamName": 7,  # a new field (schema drift) is not checked
    }
    check_types(row, LIST_ROW_FIELDS)
    sale = {"salePrice": 512000, "listingPrice": "", "deadDate": "", "createdOn": "2024-01-02"}
    check_types(sale, FILE_FIELDS["sales"])
    with pytest.raises(InvalidRecord, match=r"^salePrice is not a number: 'not a number'$"):
        check_types({"salePrice": "not a number"}, FILE_FIELDS["sales"])
    with pytest.raises(InvalidRecord, match=r"^modifiedOn is not an ISO-8601 time: 12345$"):
        check_types({"modifiedOn": 12345}, LIST_ROW_FIELDS)
