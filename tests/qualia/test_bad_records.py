"""A Qualia order with wrong JSON types is quarantined with a reason and explained as such.

Real sandbox over HTTP (the ``malformed_types`` record fault), real dlt, PostgreSQL and dbt.
"""

from __future__ import annotations

import re

import httpx
import pytest

from agentsync import db
from agentsync.entities import QUALIA as ENTITIES
from agentsync.quality.metrics import entity_counts
from agentsync.transform import run_dbt
from dlt_pipelines.qualia import run_orders
from tests.skyslope.conftest import rows, truth

AGENT = 101
REASON = re.compile(r"^(?P<field>[a-z_]\w*)(\.\w+|\[\d+\])* is not (a|an) .+: .+$")


@pytest.mark.slow
def test_wrong_typed_order_is_quarantined_not_loaded_and_not_a_gap(register_agents, sandbox_server):
    register_agents(AGENT)
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults", json={"spec": "qualia:/graphql:malformed_types:1"}
    ).raise_for_status()
    result = run_orders(AGENT, "onboarding", None)
    faults = httpx.get(f"{sandbox_server.url}/_sandbox/faults").json()["faults"]
    assert faults[0]["hits"] == 1, faults

    quarantined = rows(
        "select entity, record_id, reason, record from ops.quarantine where source = 'qualia'"
    )
    assert len(quarantined) == 1, quarantined
    entity, record_id, reason, record = quarantined[0]
    assert entity == "orders" and record["_id"] == record_id
    match = REASON.match(reason)
    assert match and match["field"] in record, reason

    want = set(truth(sandbox_server, "qualia", AGENT, "orders")["ids"])
    assert record_id in want
    got = {r[0] for r in rows("select order_id from raw_qualia.orders where user_id = :u", u=AGENT)}
    assert got == want - {record_id}
    assert result.quarantined == 1 and result.rows == len(want) - 1

    # the staging casts do not fail, and the quality count explains the order as quarantined
    assert run_dbt(["build", "--select", "staging.qualia", "title_orders"]).success
    with db.begin() as conn:
        (counts,) = entity_counts(conn, ENTITIES[0], [AGENT])
    assert counts.reported_total == len(want)
    assert counts.quarantined == 1
    assert counts.unexplained_gap == 0
