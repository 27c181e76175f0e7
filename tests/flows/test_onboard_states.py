"""``onboard_user`` on real Prefect (temporary API) with stand-in sources: every job outcome.

The stand-ins (``fake_source``) write real ``ops.sync_runs`` rows; dbt and the quality gate are
replaced by recorders here because these tests are about the state machine (the end-to-end tests
run them for real).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from agentsync import agents, db, jobs
from agentsync.errors import ConflictError
from tests.flows.conftest import FUB_KEY, REZEN_KEY


def _sync_runs(user_id: int) -> list[tuple]:
    with db.begin() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select source, entity, status, kind, flow_run_id is not null "
                    "from ops.sync_runs where user_id = :u order by run_id"
                ),
                {"u": user_id},
            )
        ]


def test_complete_with_unconnected_source_skipped(fake_source):
    from flows.onboard import onboard_user

    agents.add_agent(21, "Agent 21", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    result = onboard_user(21)
    assert result["status"] == "Complete" and result["ran"] is True
    job = jobs.get_job(21)
    states = {s.step: (s.status, s.rows) for s in job.steps}
    assert states == {
        "rezen.agent": ("done", 1),
        "rezen.transactions": ("done", 7),
        "rezen.network": ("done", 3),
        "fub.people": ("done", 5),
        "skyslope.listings": ("skipped", None),
        "dbt.build": ("done", 2),
        "quality.gate": ("done", None),
    }
    sky = next(s for s in job.steps if s.step == "skyslope.listings")
    assert sky.error == "agent 21 has not connected skyslope"
    assert all(s.started_at and s.ended_at for s in job.steps if s.status == "done")
    assert job.flow_run_id and job.attempts == 1
    runs = _sync_runs(21)
    assert {(s, e, st, k) for s, e, st, k, _ in runs} == {
        ("rezen", "agent", "done", "onboarding"),
        ("rezen", "transactions", "done", "onboarding"),
        ("rezen", "network", "done", "onboarding"),
        ("fub", "people", "done", "onboarding"),
    }
    assert all(has_flow for *_, has_flow in runs)

    # Complete is final: a second run does nothing and says so.
    calls = len(fake_source.calls)
    again = onboard_user(21)
    assert (again["status"], again["ran"]) == ("Complete", False)
    assert len(fake_source.calls) == calls


def test_partial_when_a_step_fails_and_dependents_skip(fake_source):
    from flows.onboard import onboard_user

    agents.add_agent(22, "Agent 22", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    fake_source.fail["rezen.agent"] = RuntimeError("reZEN said 503 three times")
    fake_source.fail["fub.people"] = PermissionError("FUB refused the key")
    fake_source.fail_before_record.add("fub.people")
    result = onboard_user(22)
    assert result["status"] == "Partial"
    job = jobs.get_job(22)
    steps = {s.step: s for s in job.steps}
    assert steps["rezen.agent"].status == "failed"
    assert steps["rezen.agent"].error == "RuntimeError: reZEN said 503 three times"
    for dependent in ("rezen.transactions", "rezen.network"):
        assert steps[dependent].status == "skipped"
        assert steps[dependent].error == "dependency rezen.agent failed"
    assert steps["fub.people"].status == "failed"
    assert job.error == "2 step(s) failed"
    runs = {(s, e, st) for s, e, st, _, _ in _sync_runs(22)}
    assert ("rezen", "agent", "failed") in runs
    assert ("fub", "*", "failed") in runs  # failed before the source recorded anything
    assert ("rezen", "*", "skipped") in runs

    # Partial is re-queued by create, and a fixed run completes.
    fake_source.fail.clear()
    fake_source.fail_before_record.clear()
    assert jobs.create_job(22).status == "New"
    assert onboard_user(22)["status"] == "Complete"
    assert jobs.get_job(22).attempts == 2


def test_every_step_is_recorded_once_the_same_in_the_job_and_the_events(fake_source):
    """The job's step rows and the events the progress display reads come from one record:
    the same steps, statuses, rows and errors, the post steps (dbt, gate) included, each step
    started before it finished."""
    from flows.onboard import onboard_user
    from flows.runner import subscribe

    agents.add_agent(23, "Agent 23", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    fake_source.fail["rezen.network"] = RuntimeError("reZEN timed out")
    events: list[dict] = []
    unsubscribe = subscribe(events.append)
    try:
        assert onboard_user(23)["status"] == "Partial"
    finally:
        unsubscribe()
    mine = [e for e in events if e.get("user_id") == 23]
    job = jobs.get_job(23)
    in_job = {s.step for s in job.steps}
    finished = {
        e["step"]: (e["status"], e["rows"], e["error"])
        for e in mine
        if e["event"] == "step_finished" and e["step"] in in_job
    }
    assert finished == {s.step: (s.status, s.rows, s.error) for s in job.steps}
    assert finished["rezen.network"] == ("failed", None, "RuntimeError: reZEN timed out")
    assert [e["step"] for e in mine if e["event"] == "step_finished"].count("dbt.build") == 1
    order = [
        (e["event"], e["step"]) for e in mine if e["event"] in ("step_started", "step_finished")
    ]
    for s in job.steps:
        if s.status == "skipped":
            assert ("step_started", s.step) not in order, s.step
        else:
            assert order.index(("step_started", s.step)) < order.index(("step_finished", s.step))
            assert s.started_at and s.ended_at and s.started_at <= s.ended_at


def test_error_when_something_outside_a_step_raises(fake_source, monkeypatch):
    import flows.onboard

    agents.add_agent(23, "Agent 23", {"rezen": REZEN_KEY})

    def broken_build(sources, landed=False):
        raise RuntimeError("dbt could not reach the database")

    monkeypatch.setattr(flows.onboard, "dbt_build", broken_build)
    with pytest.raises(RuntimeError, match="could not reach"):
        flows.onboard.onboard_user(23)
    job = jobs.get_job(23)
    assert job.status == "Error"
    assert job.error == "RuntimeError: dbt could not reach the database"
    steps = {s.step: s.status for s in job.steps}
    assert steps["rezen.agent"] == "done" and steps["dbt.build"] == "failed"
    assert jobs.create_job(23).status == "New"  # Error is re-queued


def test_one_onboarding_per_agent_at_a_time(fake_source):
    from agentsync.locks import agent_lock
    from flows.onboard import run_onboarding

    agents.add_agent(24, "Agent 24", {"rezen": REZEN_KEY})
    jobs.create_job(24)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with agent_lock(24):
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(ConflictError, match="already running"):
            run_onboarding(24)
        assert jobs.get_job(24).status == "New" and fake_source.calls == []
    finally:
        release.set()
        t.join()
    assert run_onboarding(24)["status"] == "Complete"


def test_error_when_reading_the_agents_integrations_raises(fake_source, prefect_api, monkeypatch):
    """An exception before any step runs: job Error with the cause, the Prefect run failed."""
    from prefect.client.orchestration import get_client

    from flows.onboard import onboard_user

    agents.add_agent(25, "Agent 25", {"fub": FUB_KEY})

    def broken(user_id):
        raise ConnectionError("credentials table unreadable")

    monkeypatch.setattr(agents, "connected_integrations", broken)
    state = onboard_user(25, return_state=True)
    assert state.is_failed()
    job = jobs.get_job(25)
    assert job.status == "Error"
    assert job.error == "ConnectionError: credentials table unreadable"
    assert fake_source.calls == []  # no step ran: every step is left pending
    assert {s.status for s in job.steps} == {"pending"}
    # The failure is on the flow run the job names, as the Prefect API stores it.
    run_id = state.state_details.flow_run_id
    assert job.flow_run_id == str(run_id)
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(run_id)
    assert stored.state.is_failed()
    assert "credentials table unreadable" in (stored.state.message or "")
