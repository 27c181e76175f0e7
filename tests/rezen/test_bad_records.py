"""reZEN records with wrong JSON types are quarantined with a reason, never loaded as is.

Real sandbox over HTTP (the ``malformed_types`` record fault), real dlt loads, real PostgreSQL.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from agentsync import db
from dlt_pipelines.rezen import steps
from tests.rezen.conftest import truth
from tests.rezen.test_source import raw_ids

REASON = re.compile(r"^(?P<field>[A-Za-z_]\w*)(\.\w+|\[\d+\])* is not (a|an) .+: .+$")


@pytest.mark.slow
def test_wrong_typed_transaction_is_quarantined_and_the_rest_loads(
    rezen_agents, sandbox_server
) -> None:
    user_id = rezen_agents[0]
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults",
        json={"spec": "rezen:/arrakis/*/transactions/OPEN:malformed_types:1"},
    ).raise_for_status()
    results = {}
    for spec in steps()[:3]:  # teams, agents, transactions
        for result in spec.run(user_id, "onboarding", None):
            results[result.entity] = result
    faults = httpx.get(f"{sandbox_server.url}/_sandbox/faults").json()["faults"]
    assert faults[0]["hits"] == 1, faults  # the wrong-typed record was served

    with db.begin() as conn:
        quarantined = conn.execute(
            text(
                "select entity, record_id, reason, record from ops.quarantine "
                "where user_id = :u and source = 'rezen'"
            ),
            {"u": user_id},
        ).all()
        variant_columns = conn.execute(
            text(
                "select column_name from information_schema.columns "
                "where table_schema = 'raw_rezen' and column_name like '%\\_\\_v\\_%'"
            )
        ).all()
    assert len(quarantined) == 1, quarantined
    entity, record_id, reason, record = quarantined[0]
    assert entity == "transactions"
    assert record["id"] == record_id
    match = REASON.match(reason)
    assert match and match["field"] in record, reason  # names a field the record has
    assert variant_columns == []  # no wrong-typed value reached raw

    want = set(truth(sandbox_server, user_id, "transactions")["transactions"]["ids"])
    assert record_id in want
    assert raw_ids(user_id, "transactions") == want - {record_id}
    assert results["transactions"].quarantined == 1
    assert results["transactions"].rows == len(want) - 1
    assert all(r.quarantined == 0 for e, r in results.items() if e != "transactions")
