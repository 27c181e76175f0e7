"""Qualia dlt source against the sandbox: counts, incremental tail re-read, bad password."""

from __future__ import annotations

import httpx
import pytest

from agentsync import agents
from agentsync.errors import IntegrationError
from dlt_pipelines.qualia import ENTITIES, steps
from dlt_pipelines.qualia.source import run_orders
from tests.skyslope.conftest import rows, scalar, truth

AGENT = 101


@pytest.mark.slow
def test_onboarding_loads_every_order(register_agents, sandbox_server):
    register_agents(AGENT, 103)
    for uid in (AGENT, 103):
        for step in steps():
            step.run(uid, "onboarding", None)
        expected = truth(sandbox_server, "qualia", uid, "orders")
        got = {
            r[0] for r in rows("select order_id from raw_qualia.orders where user_id = :u", u=uid)
        }
        assert got == set(expected["ids"])
        run = rows(
            "select status, rows, reported_total from ops.sync_runs where user_id = :u and source = 'qualia'",
            u=uid,
        )
        assert run == [("done", expected["count"], expected["count"])]
    assert [e.raw_table for e in ENTITIES] == ["raw_qualia.orders"]


@pytest.mark.slow
def test_daily_run_rereads_only_the_tail_and_catches_new_orders(
    register_agents, sandbox_server, monkeypatch
):
    monkeypatch.setenv("AGENTSYNC_QUALIA_LOOKBACK_ORDERS", "3")
    monkeypatch.setenv("AGENTSYNC_QUALIA_PAGE_SIZE", "4")
    register_agents(AGENT)
    first = run_orders(AGENT, "onboarding", None)
    httpx.post(f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.1})
    expected = truth(sandbox_server, "qualia", AGENT, "orders")
    second = run_orders(AGENT, "daily", None)
    new = expected["count"] - first.rows
    assert new > 0
    assert second.rows == new + 3
    assert second.reported_total == expected["count"]
    got = {r[0] for r in rows("select order_id from raw_qualia.orders where user_id = :u", u=AGENT)}
    assert got == set(expected["ids"])


@pytest.mark.slow
def test_wrong_password_fails_naming_agent_not_secret(register_agents, sandbox_server):
    register_agents(AGENT)
    cred = agents.get_credentials(AGENT, "qualia")
    agents.set_credential(
        AGENT, "qualia", {"username": cred["username"], "password": "nope-wrong-pw"}
    )
    with pytest.raises(IntegrationError) as err:
        run_orders(AGENT, "onboarding", None)
    assert "agent 101" in str(err.value) and "qualia" in str(err.value)
    assert "nope-wrong-pw" not in str(err.value)
    assert scalar("select status from ops.sync_runs where source = 'qualia'") == "failed"


@pytest.mark.slow
def test_malformed_order_is_quarantined_not_dropped(register_agents, sandbox_server):
    register_agents(AGENT)
    httpx.post(
        f"{sandbox_server.url}/_sandbox/faults", json={"spec": "qualia:/graphql:malformed:1"}
    )
    result = run_orders(AGENT, "onboarding", None)
    expected = truth(sandbox_server, "qualia", AGENT, "orders")
    assert result.rows == expected["count"] - 1 and result.quarantined == 1
    assert (
        scalar("select reason from ops.quarantine where source = 'qualia'") == "order without _id"
    )
