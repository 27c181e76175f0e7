"""How the deployed daily sync judges an agent's flow run abandoned, and its in-process fallback.

The judgement (:func:`flows.agent_runs._abandoned`) reads a run's Prefect state and the run's
claim in PostgreSQL; here the claim is held by a real process that is then SIGKILLed, and the
run's state is what the Prefect API would report (a Running or Pending run). The whole path with
a real server, two workers and a killed machine is ``test_workers.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import pytest
from prefect.client.schemas.objects import StateType

from agentsync import agents, liveness
from tests.flows.conftest import FUB_KEY

# A process that claims the run it is given and then works "forever" (as a run's process does).
CLAIMER = """
import sys, time
from agentsync import liveness
print("CLAIMED" if liveness.claim(sys.argv[1]) else "REFUSED", flush=True)
time.sleep(3600)
"""


def _claimer(name: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, name],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def _run(state: StateType) -> SimpleNamespace:
    """A flow run as the Prefect API reports it: an id and a state of that type."""
    return SimpleNamespace(id=uuid.uuid4(), state=SimpleNamespace(type=state))


def test_a_running_run_is_abandoned_once_no_process_holds_its_claim(agentsync_env, monkeypatch):
    from flows import agent_runs
    from flows.sync_agent import claim_name

    monkeypatch.setattr(agent_runs, "CLAIM_GRACE_SECONDS", 0.0)
    run = _run(StateType.RUNNING)
    attempt = agent_runs._Attempt(101, 1, run.id, "sync-agent-101")
    proc, said = _claimer(claim_name(run.id))
    try:
        assert said == "CLAIMED"
        with liveness.Fence() as fence:
            # Alive (however long it has run): not abandoned, and the claim stays its own.
            assert not agent_runs._abandoned(run, attempt, fence, start_timeout=600)
            proc.kill()
            proc.wait(30)
            # Its process is gone: abandoned at once, and the fence now holds the claim...
            assert agent_runs._abandoned(run, attempt, fence, start_timeout=600)
            # ...so a late process for the same run is refused and does nothing.
            late, said = _claimer(claim_name(run.id))
            late.kill()
            late.wait(30)
            assert said == "REFUSED"
        # Once the fence is closed (the daily sync is over) the claim is free again.
        again, said = _claimer(claim_name(run.id))
        again.kill()
        again.wait(30)
        assert said == "CLAIMED"
    finally:
        proc.kill()


def test_a_run_without_its_claim_yet_gets_its_start_time(agentsync_env, monkeypatch):
    """Running a moment before the claim, or Pending on a worker: judged only after a wait."""
    from flows import agent_runs

    monkeypatch.setattr(agent_runs, "CLAIM_GRACE_SECONDS", 0.5)
    with liveness.Fence() as fence:
        for state, timeout in ((StateType.RUNNING, 600.0), (StateType.PENDING, 0.5)):
            run = _run(state)
            attempt = agent_runs._Attempt(101, 1, run.id, "sync-agent-101")
            assert not agent_runs._abandoned(run, attempt, fence, start_timeout=timeout), state
            time.sleep(0.6)
            assert agent_runs._abandoned(run, attempt, fence, start_timeout=timeout), state
        # Scheduled (no worker took it yet) and final runs are never abandoned.
        for state in (StateType.SCHEDULED, StateType.COMPLETED, StateType.CRASHED):
            run = _run(state)
            attempt = agent_runs._Attempt(101, 1, run.id, "sync-agent-101")
            attempt.seen = {"PENDING": 0.0, "RUNNING": 0.0}
            assert not agent_runs._abandoned(run, attempt, fence, start_timeout=0.0), state


def test_without_an_agent_deployment_the_daily_sync_runs_its_agents_here(
    fake_source, prefect_api, run_logs_at_info, caplog
):
    """``via_deployment`` on an API without ``sync-agent/agent`` (here Prefect's temporary one):
    the agents run on this process's threads, with a warning that says how to fix it."""
    from flows.daily_sync import daily_sync

    for user_id in (51, 52):
        agents.add_agent(user_id, f"Agent {user_id}", {"fub": FUB_KEY})
    result = daily_sync(via_deployment=True)
    assert {u: [o["status"] for o in outs] for u, outs in result["agents"].items()} == {
        51: ["done"],
        52: ["done"],
    }
    assert "flow_runs" not in result
    assert sorted(u for _, u, _ in fake_source.calls) == [51, 52]
    assert any(
        "sync-agent/agent is not registered" in r.getMessage()
        and "agentsync deploy" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("attempt", [1, 2])
def test_agent_run_names_say_what_ran(agentsync_env, attempt):
    from datetime import datetime

    from flows.sync_agent import agent_run_name_for

    day = datetime(2026, 12, 7)
    name = agent_run_name_for(101, None, attempt, day)
    assert name == (
        "sync-agent-101-2026-12-07"
        if attempt == 1
        else f"sync-agent-101-2026-12-07-attempt-{attempt}"
    )
    assert agent_run_name_for(101, ["rezen"], attempt, day).startswith(
        "sync-agent-101-2026-12-07-rezen"
    )
