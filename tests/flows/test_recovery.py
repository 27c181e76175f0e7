"""A run whose process is killed is recognised at once and recovered by the dispatcher alone.

A real onboarding (``flows.onboard.run_onboarding``) runs in a subprocess with one stand-in source
step that records a real ``ops.sync_runs`` row and then blocks; the test ``kill -9``s it. While it
lives, nothing reports it dead; once it is dead, health says so at once (not after the stuck-job
threshold), and ``dispatch_once`` — the dispatcher path, no ``--user-id`` — marks what it left
interrupted, re-queues the job and completes it. A job killed more often than
``AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS`` ends Error with the reason instead of running forever.
(The end-to-end kill of a real onboarding over the sandbox is ``test_e2e.py``.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from agentsync import agents, db, jobs, orphans, recovery
from agentsync.quality.health import INTERRUPTED_CHECK, check_health
from tests.flows.conftest import FUB_KEY

AGENT = 31

# The onboarding flow's body in a process of its own, with one source step that blocks after it
# has opened its sync run (as a real step blocks on a slow vendor).
CHILD = """
import sys, time
from dlt_pipelines import registry
from agentsync.contracts import StepSpec
from dlt_pipelines.run import record_sync

def people(user_id, kind, flow_run_id):
    with record_sync(kind, user_id, "fub", "people", flow_run_id):
        print("RUNNING", flush=True)
        time.sleep(3600)

registry.all_steps = lambda sources=None: [StepSpec("fub", "people", people)]
from flows.onboard import run_onboarding
run_onboarding(int(sys.argv[1]))
"""


def _start_child(env: dict[str, str], prefect_home: Path) -> subprocess.Popen:
    # Its own PREFECT_HOME: the temporary Prefect server the killed child leaves is this test's
    # to stop (``_kill``), never one another test's command would find and reap.
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(AGENT)],
        env={**os.environ, **env, "PREFECT_HOME": str(prefect_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # blocks until the step runs (or the child dies)
    assert line.strip() == "RUNNING", f"the child onboarding did not start (exit {proc.poll()})"
    return proc


def _kill(proc: subprocess.Popen, prefect_home: Path) -> float:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    killed_at = time.monotonic()
    orphans.reap_prefect_servers(prefect_home)  # what the next command of that home would do
    return killed_at


def _interrupted(report) -> list:
    return [i for i in report.items if i.check == INTERRUPTED_CHECK]


def _wait_dead(timeout: float = 30.0) -> recovery.DeadRuns:
    deadline = time.monotonic() + timeout
    while True:
        found = recovery.dead_runs()
        if found.jobs or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_killed_onboarding_is_reported_at_once_and_the_dispatcher_recovers_it(
    fake_source, agentsync_env, tmp_path
):
    from flows.dispatcher import dispatch_once

    agents.add_agent(AGENT, "Agent 31", {"fub": FUB_KEY})
    jobs.create_job(AGENT)
    home = tmp_path / "prefect"
    proc = _start_child(agentsync_env, home)
    try:
        # Alive: Started, running, and not reported dead (a slow run is not a dead one).
        assert jobs.get_job(AGENT).status == "Started"
        assert recovery.dead_runs().jobs == []
        assert _interrupted(check_health()) == []
        assert dispatch_once() == []  # nothing New, and the live run is left alone
    finally:
        killed_at = _kill(proc, home)

    found = _wait_dead()
    seconds_to_dead = time.monotonic() - killed_at
    assert [j.user_id for j in found.jobs] == [AGENT]
    assert found.jobs[0].step == "fub.people"
    assert [(r["source"], r["entity"]) for r in found.sync_runs] == [("fub", "people")]
    assert seconds_to_dead < 30
    report = check_health()
    dead = _interrupted(report)
    assert {i.level for i in dead} == {2}, [i.message for i in dead]  # critical, at once
    assert any("fub.people" in i.message for i in dead)
    assert report.level == 2

    # The dispatcher alone: the dead run is settled, the job re-queued and run to Complete.
    handled = dispatch_once()
    assert handled == [{"user_id": AGENT, "status": "Complete"}]
    job = jobs.get_job(AGENT)
    assert job.status == "Complete" and job.attempts == 2
    with db.begin() as conn:
        runs = conn.execute(
            text(
                "select status, error from ops.sync_runs where user_id = :u and entity = 'people' "
                "order by run_id"
            ),
            {"u": AGENT},
        ).all()
        interruptions = conn.execute(
            text("select interruptions from ops.onboarding_jobs where user_id = :u"), {"u": AGENT}
        ).scalar_one()
    assert [r.status for r in runs] == ["failed", "done"]  # the truth for the killed run
    assert runs[0].error.startswith("interrupted: the process running it")
    assert interruptions == 0  # reset once a run ended normally
    assert _interrupted(check_health()) == []


def test_a_job_killed_every_time_ends_error_after_the_bound(
    fake_source, agentsync_env, monkeypatch, tmp_path
):
    from flows.dispatcher import dispatch_once

    monkeypatch.setenv("AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS", "1")
    env = {**agentsync_env, "AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS": "1"}
    agents.add_agent(AGENT, "Agent 31", {"fub": FUB_KEY})
    jobs.create_job(AGENT)

    home = tmp_path / "prefect"
    _kill(_start_child(env, home), home)
    first = recovery.recover_dead_runs()
    assert first.requeued == [AGENT] and first.gave_up == []
    requeued = jobs.get_job(AGENT)
    assert requeued.status == "New"
    assert "interrupted during fub.people" in requeued.error
    assert "interruption 1 of at most 1" in requeued.error
    assert any(i.level == 1 for i in _interrupted(check_health()))  # a warning while it waits

    _kill(_start_child(env, home), home)  # the re-queued run dies too
    handled = dispatch_once()
    assert [(h["user_id"], h["status"]) for h in handled] == [(AGENT, "Error")]
    assert "2 times in a row; not re-queued" in handled[0]["message"]
    job = jobs.get_job(AGENT)
    assert job.status == "Error" and job.ended_at is not None
    assert {s.step: s.status for s in job.steps}["fub.people"] == "failed"
    assert any(i.level == 2 and "Error" in i.message for i in _interrupted(check_health()))
    assert fake_source.calls == []  # nothing ran in this process: the bound held
