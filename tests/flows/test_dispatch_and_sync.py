"""Dispatcher pick-up, the concurrency bound, and ``daily_sync`` with stand-in sources."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from agentsync import agents, db, jobs
from tests.flows.conftest import FUB_KEY, REZEN_KEY


def test_dispatcher_picks_up_a_job_inserted_by_sql_within_one_interval(fake_source, prefect_api):
    from flows.dispatcher import run_dispatcher_loop

    agents.add_agent(31, "Agent 31", {"rezen": REZEN_KEY})
    stop = threading.Event()
    interval = 3.0
    handled: list = []
    loop = threading.Thread(
        target=lambda: handled.extend(run_dispatcher_loop(stop, interval_seconds=interval))
    )
    loop.start()
    try:
        time.sleep(0.5)  # the loop is waiting for its next tick; no job yet
        with db.begin() as conn:  # another system creates the job with plain SQL
            conn.execute(text("insert into ops.onboarding_jobs (user_id) values (31)"))
        inserted = time.monotonic()
        picked = None
        while time.monotonic() - inserted < 120:
            job = jobs.get_job(31)
            if job.status != "New":
                picked = picked or time.monotonic() - inserted
            if job.status in ("Complete", "Partial", "Error"):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(120)
    assert job.status == "Complete"
    # Within one interval, plus the flow run's own start on a busy 2-core machine.
    assert picked is not None and picked <= interval + 3.0
    assert handled == [{"user_id": 31, "status": "Complete"}]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_total_concurrency_is_bounded_by_slots(agentsync_env, monkeypatch, limit):
    from agentsync.locks import onboarding_slot

    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS", str(limit))
    inside, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with onboarding_slot(poll_seconds=0.05):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.4)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == limit


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrent_onboard_user_runs_peak_at_the_setting(
    fake_source, prefect_api, monkeypatch, limit
):
    """Five agents' ``onboard_user`` flows at once: at most ``limit`` onboard at the same time."""
    from flows.onboard import onboard_user

    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS", str(limit))
    users = list(range(71, 76))
    for user_id in users:
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY})
    fake_source.hold_seconds = 60.0  # each onboarding's one step stays busy until `limit` are
    fake_source.gather = limit  # in at once (bounded), then a second more
    results: dict[int, str] = {}

    def run(user_id: int) -> None:
        results[user_id] = onboard_user(user_id)["status"]

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert results == dict.fromkeys(users, "Complete")
    assert sorted(u for _, u, _ in fake_source.calls) == users
    assert fake_source.peak == limit


def test_daily_sync_records_every_run_and_goes_on_after_failure(fake_source, monkeypatch):
    import flows.after_load
    import flows.daily_sync
    from flows.daily_sync import daily_sync
    from flows.runner import StepOutcome

    # The real post-load sequence (quality_steps: gate, then health and alerts for real); only
    # the GX gate is a recorder, as dbt is (there are no marts to check in this test).
    gate_calls: list = []

    def gate(user_ids):
        gate_calls.append(user_ids)
        return StepOutcome("quality.gate", "quality", "done")

    monkeypatch.setattr(flows.daily_sync, "quality_steps", flows.after_load.quality_steps)
    monkeypatch.setattr(flows.after_load, "quality_gate", gate)

    agents.add_agent(41, "Agent 41", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    agents.add_agent(42, "Agent 42", {"fub": FUB_KEY})
    agents.add_agent(43, "No credentials")
    fake_source.fail["fub.people"] = ConnectionError("FUB timed out")
    fake_source.fail_before_record.add("fub.people")
    fake_source.fail["rezen.network"] = RuntimeError("reZEN network page 3 said 502")
    fake_source.cursor["rezen.transactions"] = "2026-01-02T03:04:05Z"
    result = daily_sync()
    assert set(result["agents"]) == {41, 42}
    by_agent = {u: {o["step"]: o["status"] for o in outs} for u, outs in result["agents"].items()}
    assert by_agent[41] == {
        "rezen.agent": "done",
        "rezen.transactions": "done",
        "rezen.network": "failed",
        "fub.people": "failed",
    }
    assert by_agent[42] == {"fub.people": "failed"}
    assert result["failed"] == 3
    # After the loads: one dbt build, then the gate, health and alerts, in that order.
    assert [o["step"] for o in result["post"]] == [
        "dbt.build",
        "quality.gate",
        "quality.health",
        "quality.alerts",
    ]
    assert [o["status"] for o in result["post"][2:]] == ["done", "done"], result["post"]
    assert gate_calls == [[41, 42]]
    with db.begin() as conn:
        runs = conn.execute(
            text(
                "select user_id, source, entity, status, kind, started_at, ended_at, rows, "
                "cursor, error from ops.sync_runs order by 1, 2, 3"
            )
        ).all()
    assert [tuple(r[:5]) for r in runs] == [
        (41, "fub", "*", "failed", "daily"),
        (41, "rezen", "agent", "done", "daily"),
        (41, "rezen", "network", "failed", "daily"),
        (41, "rezen", "transactions", "done", "daily"),
        (42, "fub", "*", "failed", "daily"),
    ]
    for r in runs:
        assert r.started_at is not None and r.ended_at is not None, r
        assert r.ended_at >= r.started_at, r
    by_key = {(r.user_id, r.source, r.entity): r for r in runs}
    # Rows as the steps loaded them; a cursor where the step set one; errors name the cause.
    assert {k: r.rows for k, r in by_key.items() if r.status == "done"} == {
        (41, "rezen", "agent"): 1,
        (41, "rezen", "transactions"): 7,
    }
    assert by_key[(41, "rezen", "transactions")].cursor == "2026-01-02T03:04:05Z"
    assert by_key[(41, "rezen", "agent")].cursor is None
    assert {k: r.error for k, r in by_key.items()} == {
        (41, "fub", "*"): "ConnectionError: FUB timed out",
        (41, "rezen", "agent"): None,
        (41, "rezen", "network"): "RuntimeError: reZEN network page 3 said 502",
        (41, "rezen", "transactions"): None,
        (42, "fub", "*"): "ConnectionError: FUB timed out",
    }

    only = daily_sync(user_ids=[42], sources=["rezen"])
    assert only["agents"] == {42: []}


def test_daily_sync_extracts_agents_concurrently_up_to_the_setting(
    fake_source, prefect_api, monkeypatch
):
    """Six agents with one FUB step each, held until three are busy at once: at most the setting (3) run at once,
    every agent is extracted once, and a failing agent is recorded without blocking the rest."""
    from flows.daily_sync import daily_sync

    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_SYNCS", "3")
    users = list(range(81, 87))
    for user_id in users:
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY})
    fake_source.hold_seconds, fake_source.gather = 60.0, 3
    fake_source.fail["fub.people"] = RuntimeError("FUB said 500")  # for every agent's step

    result = daily_sync(sources=["fub"])

    assert fake_source.peak == 3
    assert sorted(u for _, u, _ in fake_source.calls) == users
    assert {u: [o["status"] for o in outs] for u, outs in result["agents"].items()} == {
        u: ["failed"] for u in users
    }
    with db.begin() as conn:
        recorded = conn.execute(
            text(
                "select user_id, status from ops.sync_runs where user_id between 81 and 86 "
                "order by 1"
            )
        ).all()
    assert [tuple(r) for r in recorded] == [(u, "failed") for u in users]


def test_a_slow_agent_does_not_hold_up_the_others(fake_source, prefect_api, monkeypatch):
    """One agent's step is slow: the other agents' extractions finish while it still runs."""
    from agentsync.contracts import StepSpec
    from dlt_pipelines import registry
    from flows.daily_sync import daily_sync

    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_SYNCS", "2")
    finished: dict[int, float] = {}
    slow_started = threading.Event()

    def run(user_id, kind, flow_run_id):
        if user_id == 91:
            slow_started.set()
            time.sleep(4.0)
        else:
            slow_started.wait(10)
        finished[user_id] = time.monotonic()
        return []

    monkeypatch.setattr(
        registry, "all_steps", lambda sources=None: [StepSpec("fub", "people", run)]
    )
    for user_id in (91, 92, 93, 94):
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY})
    result = daily_sync(user_ids=[91, 92, 93, 94])
    assert set(result["agents"]) == {91, 92, 93, 94}
    # 92, 93 and 94 ran one after another in the second slot while 91 slept.
    assert max(finished[u] for u in (92, 93, 94)) < finished[91]


def test_dispatch_runs_the_waiting_onboardings_together(fake_source, prefect_api, monkeypatch):
    """Three New jobs, three slots, each onboarding's step held until all three are busy: one dispatch runs all three
    at once (peak 3), and each ends Complete."""
    from flows.dispatcher import dispatch_once

    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS", "3")
    users = [61, 62, 63]
    for user_id in users:
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY})
        jobs.create_job(user_id)
    fake_source.hold_seconds, fake_source.gather = 60.0, 3
    handled = dispatch_once()
    assert sorted((h["user_id"], h["status"]) for h in handled) == [(u, "Complete") for u in users]
    assert fake_source.peak == 3


def test_progress_inside_a_step_is_the_agent_and_step_that_read_it(
    fake_source, prefect_api, monkeypatch
):
    """Three agents extracted at once: every progress event the sources send names the agent
    and the step whose thread read it, with what was counted and the total."""
    from agentsync import progress
    from flows.daily_sync import daily_sync

    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_SYNCS", "3")
    monkeypatch.setattr(progress, "INTERVAL_S", 0.0)
    users = [91, 92, 93]
    for user_id in users:
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    fake_source.hold_seconds = 0.3
    seen: list[dict] = []
    lock = threading.Lock()

    def record(event: dict) -> None:
        with lock:
            seen.append(event)

    stop = progress.listen(record)
    try:
        result = daily_sync(user_ids=users, sources=["fub", "rezen"])
    finally:
        stop()
    assert result["failed"] == 0
    assert fake_source.peak > 1  # the agents really ran at once
    got = {(e["user_id"], e["step"], e["what"], e["done"], e["total"]) for e in seen}
    expected = {
        (u, step, step.split(".")[1], rows, rows)
        for u in users
        for step, rows in (
            ("rezen.agent", 1),
            ("rezen.transactions", 7),
            ("rezen.network", 3),
            ("fub.people", 5),
        )
    }
    assert got == expected
