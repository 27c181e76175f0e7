"""The onboarding job state machine in ``ops.onboarding_jobs`` (no Prefect needed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from agentsync import agents, db, jobs
from agentsync.errors import NotFoundError


def _set_status(user_id: int, status: str) -> None:
    with db.begin() as conn:
        conn.execute(
            text("update ops.onboarding_jobs set status = :s where user_id = :u"),
            {"s": status, "u": user_id},
        )


def test_create_is_idempotent_per_state(agentsync_env):
    agents.add_agent(7, "Seven")
    first = jobs.create_job(7)
    assert (first.status, first.created_new) == ("New", True)

    again = jobs.create_job(7)
    assert (again.job_id, again.status, again.created_new) == (first.job_id, "New", False)

    _set_status(7, "Started")
    assert jobs.create_job(7).status == "Started"

    _set_status(7, "Complete")
    done = jobs.create_job(7)
    assert (done.status, done.created_new, done.message) == (
        "Complete",
        False,
        "Onboarding already completed",
    )

    for failed in ("Partial", "Error"):
        _set_status(7, failed)
        requeued = jobs.create_job(7)
        assert (requeued.job_id, requeued.status, requeued.created_new) == (
            first.job_id,
            "New",
            False,
        )
        assert failed in requeued.message


def test_concurrent_creates_give_one_job(agentsync_env):
    agents.add_agent(8, "Eight")
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda _: jobs.create_job(8), range(16)))
    assert len({j.job_id for j in made}) == 1
    assert sum(j.created_new for j in made) == 1
    assert len(jobs.list_jobs()) == 1


def test_unknown_agent_is_a_clear_error(agentsync_env):
    with pytest.raises(NotFoundError, match="no agent with user_id 999"):
        jobs.create_job(999)
    with pytest.raises(NotFoundError, match="has no onboarding job"):
        jobs.get_job(999)


def test_start_finish_and_error_transitions(agentsync_env):
    agents.add_agent(9, "Nine")
    job = jobs.create_job(9)
    started = jobs.start_job(9, "run-1", [("a.one", "a"), ("a.two", "a")])
    assert started is not None and started.status == "Started" and started.attempts == 1
    assert [s.status for s in started.steps] == ["pending", "pending"]

    jobs.step_running(job.job_id, "a.one")
    jobs.step_finished(job.job_id, "a.one", "done", rows=3)
    jobs.step_running(job.job_id, "a.two")
    jobs.step_finished(job.job_id, "a.two", "failed", error="ValueError: boom")
    ended = jobs.finish_job(job.job_id)
    assert ended.status == "Partial" and ended.error == "1 step(s) failed"
    one, two = ended.steps
    assert (one.status, one.rows, two.status, two.error) == (
        "done",
        3,
        "failed",
        "ValueError: boom",
    )
    assert one.seconds is not None and one.seconds >= 0

    # Complete cannot be started again; a re-queued job starts with fresh steps.
    assert jobs.create_job(9).status == "New"
    restarted = jobs.start_job(9, "run-2", [("a.one", "a")])
    assert restarted.attempts == 2 and [s.status for s in restarted.steps] == ["pending"]
    jobs.step_running(job.job_id, "a.one")
    jobs.fail_job(job.job_id, "RuntimeError: database went away")
    errored = jobs.get_job(9)
    assert errored.status == "Error" and errored.error == "RuntimeError: database went away"
    assert errored.steps[0].status == "failed"
    assert jobs.start_job(9, "run-3", []) is None  # Error is final until re-queued


def test_finish_all_done_is_complete_and_final(agentsync_env):
    agents.add_agent(10, "Ten")
    job = jobs.create_job(10)
    jobs.start_job(10, None, [("a.one", "a")])
    jobs.step_finished(job.job_id, "a.one", "skipped", error="not connected")
    assert jobs.finish_job(job.job_id).status == "Complete"
    assert jobs.start_job(10, None, []) is None
    with pytest.raises(ValueError, match="done, failed or skipped"):
        jobs.step_finished(job.job_id, "a.one", "running")


def test_dispatched_jobs_are_not_offered_twice(agentsync_env):
    agents.add_agent(11, "Eleven")
    agents.add_agent(12, "Twelve")
    jobs.create_job(11)
    jobs.create_job(12)
    assert jobs.new_job_user_ids() == [11, 12]
    jobs.mark_dispatched(11, "run-abc")
    assert jobs.new_job_user_ids() == [12]
    assert jobs.new_job_user_ids(redispatch_minutes=0) == [11, 12]  # a lost run is retried
    assert jobs.new_job_user_ids(limit=1) == [12]


def test_cli_create_and_status(agentsync_env):
    import json

    from typer.testing import CliRunner

    from agentsync.cli import app

    agents.add_agent(13, "Thirteen")
    runner = CliRunner()
    first = runner.invoke(app, ["onboard", "create", "--user-id", "13", "--json"])
    assert first.exit_code == 0, first.output
    made = json.loads(first.output)
    assert (made["status"], made["created_new"]) == ("New", True)
    again = json.loads(
        runner.invoke(app, ["onboard", "create", "--user-id", "13", "--json"]).output
    )
    assert (again["job_id"], again["created_new"]) == (made["job_id"], False)

    jobs.start_job(13, "run-1", [("rezen.agents", "rezen")])
    status = runner.invoke(app, ["onboard", "status", "--user-id", "13", "--json"])
    assert status.exit_code == 0, status.output
    (shown,) = json.loads(status.output)
    assert shown["status"] == "Started"
    assert [(s["step"], s["status"]) for s in shown["steps"]] == [("rezen.agents", "pending")]
    table = runner.invoke(app, ["onboard", "status"])
    assert "agent 13" in table.output and "rezen.agents" in table.output
