"""``agentsync onboard run`` to completion, through the CLI, on real Prefect (temporary API).

The sources are the stand-ins of ``fake_source`` (real ``ops.sync_runs`` rows, faults on
demand); the job state the command reports is checked against ``ops.onboarding_jobs``.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentsync import agents, jobs
from tests.flows.conftest import FUB_KEY, REZEN_KEY


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch) -> None:
    """Print the CLI's tables 200 columns wide (80 when not a terminal), so no cell is cut."""
    from agentsync.commands.output import console

    monkeypatch.setattr(console, "width", 200)


def _invoke(*args: str):
    from agentsync.cli import app

    return CliRunner().invoke(app, ["onboard", *args])


def test_onboard_run_completes_a_created_job(fake_source, prefect_api):
    agents.add_agent(61, "Agent 61", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    created = _invoke("create", "--user-id", "61")
    assert created.exit_code == 0, created.output
    assert jobs.get_job(61).status == "New"

    done = _invoke("run")
    assert done.exit_code == 0, (done.output, done.exception)
    job = jobs.get_job(61)
    assert job.status == "Complete"
    # The table the command prints is the job as stored: its title and every step's state.
    assert f"agent 61 — job {job.job_id}: Complete" in done.output
    for step in job.steps:
        assert step.step in done.output
    assert {s.step: s.status for s in job.steps}["fub.people"] == "done"
    assert ("fub.people", 61, "onboarding") in fake_source.calls


def test_onboard_run_one_agent_exits_1_when_partial(fake_source, prefect_api):
    agents.add_agent(62, "Agent 62", {"fub": FUB_KEY, "rezen": REZEN_KEY})
    fake_source.fail["rezen.network"] = RuntimeError("reZEN network said 500")
    done = _invoke("run", "--user-id", "62", "--json")  # creates the job, runs it now
    assert done.exit_code == 1, (done.output, done.exception)
    (reported,) = json.loads(done.stdout)  # JSON alone on stdout; the one error line on stderr
    assert done.stderr.strip() == "agentsync: error: onboarding: agent 62 Partial"
    job = jobs.get_job(62)
    assert reported == {**reported, "user_id": 62, "status": "Partial"}
    assert job.status == "Partial" and job.error == "1 step(s) failed"
    steps = {s.step: s for s in job.steps}
    assert steps["rezen.network"].status == "failed"
    assert steps["rezen.network"].error == "RuntimeError: reZEN network said 500"
    # The fault stays in its step: the independent steps ran.
    assert steps["rezen.transactions"].status == "done"
    assert steps["fub.people"].status == "done"


def test_onboard_run_without_user_id_runs_every_new_job(fake_source, prefect_api):
    for user_id in (63, 64, 65):
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY})
    agents.add_agent(66, "Agent 66 (no job)", {"fub": FUB_KEY})
    for user_id in (63, 64):
        assert _invoke("create", "--user-id", str(user_id)).exit_code == 0
    # 65 was onboarded before: its Complete job must not run again.
    assert _invoke("run", "--user-id", "65").exit_code == 0
    assert jobs.get_job(65).status == "Complete"
    fake_source.calls.clear()

    done = _invoke("run", "--json")
    assert done.exit_code == 0, (done.output, done.exception)
    reported = {r["user_id"]: r["status"] for r in json.loads(done.stdout)}
    assert reported == {63: "Complete", 64: "Complete"}
    assert {u: jobs.get_job(u).status for u in (63, 64, 65)} == dict.fromkeys(
        (63, 64, 65), "Complete"
    )
    assert sorted(u for _, u, _ in fake_source.calls) == [63, 64]
    assert jobs.list_jobs() and 66 not in {j.user_id for j in jobs.list_jobs()}

    nothing = _invoke("run")
    assert nothing.exit_code == 0 and "no New onboarding jobs" in nothing.output
