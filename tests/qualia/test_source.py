"""Qualia dlt source against the sandbox: counts, tail re-read, periodic full read, bad password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agentsync import agents
from agentsync.entities import QUALIA as ENTITIES
from agentsync.errors import IntegrationError, SettingError
from agentsync.transform import run_dbt
from dlt_pipelines.landed import full_read_due
from dlt_pipelines.qualia import run_orders, steps
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
    raw_count = "select count(*) from raw_qualia.orders where user_id = :u"
    landed = scalar(raw_count, u=AGENT)
    assert landed == first.rows

    # a quiet day: the tail's 3 orders are re-read exactly as landed, so nothing lands
    quiet = run_orders(AGENT, "daily", None)
    assert quiet.cursor == f"{first.rows - 3}..{first.rows} tail"
    assert quiet.rows == 0 and scalar(raw_count, u=AGENT) == landed
    assert quiet.reported_total == first.rows

    # one order in the tail changes, and the day brings new orders (and maybe other changes)
    before = _served_statuses(sandbox_server, AGENT)
    tail = list(before)[first.rows - 3 :]
    status = "cancelled" if before[tail[-1]] != "cancelled" else "closed"
    resp = httpx.post(
        f"{sandbox_server.url}/_sandbox/qualia/status",
        json={"user_id": AGENT, "index": first.rows - 1, "status": status},
    )
    assert resp.status_code == 200, resp.text
    httpx.post(f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.1})
    expected = truth(sandbox_server, "qualia", AGENT, "orders")
    now = _served_statuses(sandbox_server, AGENT)
    changed_in_tail = {o for o in tail if now[o] != before[o]}
    assert tail[-1] in changed_in_tail
    second = run_orders(AGENT, "daily", None)
    new = expected["count"] - first.rows
    assert new > 0
    # exactly the new orders and the tail orders that changed land
    assert second.rows == new + len(changed_in_tail)
    assert second.reported_total == expected["count"]
    got = {r[0] for r in rows("select order_id from raw_qualia.orders where user_id = :u", u=AGENT)}
    assert got == set(expected["ids"])
    run_dbt(["build", "--select", "staging.qualia", "title_orders"])
    marts = _mart_statuses(AGENT)
    assert {o: marts[o] for o in tail} == {o: now[o] for o in tail}


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


def _served_statuses(sandbox_server, user_id: int) -> dict[str, str]:
    """Status of every order the sandbox serves the agent now (its ground truth)."""
    qualia = sandbox_server.sandbox.modules["qualia"]
    orders = (qualia._order(user_id, i) for i in range(qualia._count(user_id)))
    return {o["_id"]: o["status"] for o in orders}


def _mart_statuses(user_id: int) -> dict[str, str]:
    return dict(
        rows("select order_id, status from marts.title_orders where user_id = :u", u=user_id)
    )


@pytest.mark.slow
def test_daily_run_past_the_full_reread_age_catches_older_status_changes(
    register_agents, sandbox_server, monkeypatch
):
    monkeypatch.setenv("AGENTSYNC_QUALIA_LOOKBACK_ORDERS", "2")
    register_agents(AGENT)
    first = run_orders(AGENT, "onboarding", None)
    assert first.cursor == f"0..{first.rows} full"
    # The changes this test depends on are made explicitly (not left to advance's seeded draw,
    # which depends on the clock's date): two orders before the re-read tail change status.
    before = _served_statuses(sandbox_server, AGENT)
    changed = set()
    for index in (0, 1):
        oid = list(before)[index]
        status = "cancelled" if before[oid] != "cancelled" else "closed"
        resp = httpx.post(
            f"{sandbox_server.url}/_sandbox/qualia/status",
            json={"user_id": AGENT, "index": index, "status": status},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["_id"] == oid
        changed.add(oid)
    httpx.post(f"{sandbox_server.url}/_sandbox/advance", json={"seconds": 86400, "fraction": 0.1})
    truth_now = _served_statuses(sandbox_server, AGENT)
    assert first.rows > 2 + 2, "the agent needs orders before the re-read tail"
    assert all(truth_now[o] != before[o] for o in changed)

    # within the re-read age (default 7 days) a daily run reads the tail: older changes stay unseen
    tail = run_orders(AGENT, "daily", None)
    assert tail.cursor.endswith(" tail") and tail.rows < len(truth_now)
    run_dbt(["build", "--select", "staging.qualia", "title_orders"])
    stale = _mart_statuses(AGENT)
    assert all(stale[o] != truth_now[o] for o in changed)

    # past the re-read age the daily run reads every order, and the mart catches up
    monkeypatch.setenv("AGENTSYNC_QUALIA_FULL_REREAD_DAYS", "0")
    full = run_orders(AGENT, "daily", None)
    assert full.cursor == f"0..{len(truth_now)} full" and full.rows == len(truth_now)
    run_dbt(["build", "--select", "staging.qualia", "title_orders"])
    assert _mart_statuses(AGENT) == truth_now
    kinds = rows(
        "select kind, cursor from ops.sync_runs where user_id = :u and source = 'qualia' "
        "order by run_id",
        u=AGENT,
    )
    assert [(k, c.rsplit(" ", 1)[1]) for k, c in kinds] == [
        ("onboarding", "full"),
        ("daily", "tail"),
        ("daily", "full"),
    ]

    # the daily full read was recorded: with the default age again, the next run reads the tail
    monkeypatch.delenv("AGENTSYNC_QUALIA_FULL_REREAD_DAYS")
    assert run_orders(AGENT, "daily", None).cursor.endswith(" tail")


def test_full_read_is_due_when_none_is_recorded_or_it_is_old_enough():
    now = datetime(2025, 6, 10, 12, tzinfo=UTC)
    week = timedelta(days=7)
    assert full_read_due(None, now, week)
    assert full_read_due("not a time", now, week)
    assert full_read_due((now - week).isoformat(), now, week)
    assert not full_read_due((now - week + timedelta(minutes=1)).isoformat(), now, week)
    assert full_read_due(now.isoformat(), now, timedelta(0))


def test_bad_full_reread_age_names_the_setting(agentsync_env, monkeypatch):
    monkeypatch.setenv("AGENTSYNC_QUALIA_FULL_REREAD_DAYS", "-1")
    with pytest.raises(SettingError, match="AGENTSYNC_QUALIA_FULL_REREAD_DAYS"):
        run_orders(AGENT, "daily", None)
