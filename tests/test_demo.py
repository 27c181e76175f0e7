"""``agentsync demo``: the whole job on a test database (slow), and re-run idempotence (fast)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from agentsync import agents, db


def test_demo_agents_register_idempotently(sandbox_env, sandbox_server):
    from agentsync.commands.demo import _register_agents

    first = _register_agents(sandbox_server.sandbox)
    second = _register_agents(sandbox_server.sandbox)  # a re-run refreshes, never duplicates
    expected = [a["user_id"] for a in sandbox_server.sandbox.demo_agents()]
    assert first == second == expected
    listed = {a.user_id: set(a.integrations) for a in agents.list_agents()}
    assert listed == {
        a["user_id"]: set(a["credentials"]) for a in sandbox_server.sandbox.demo_agents()
    }


@pytest.mark.slow
def test_demo_runs_end_to_end(agentsync_env, tmp_path):
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), COLUMNS="160")
    done = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "demo", "--no-docs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out = done.stdout
    assert "agentsync demo — per agent and source" in out, done.stderr[-3000:]
    with db.begin() as conn:
        jobs = dict(conn.execute(text("select user_id, status from ops.onboarding_jobs")).all())
        steps = conn.execute(
            text("select step, status, error from ops.onboarding_steps order by job_id, ordinal")
        ).all()
        kinds = {
            (r.user_id, r.source, r.kind)
            for r in conn.execute(text("select distinct user_id, source, kind from ops.sync_runs"))
        }
        connected = conn.execute(text("select user_id, integration from ops.credentials")).all()
    # A clean demo: every job Complete, every step done (or skipped for an unconnected
    # integration), the dbt build and the quality gate passed.
    assert jobs == {101: "Complete", 102: "Complete", 103: "Complete"}, (jobs, steps)
    for step, status, error in steps:
        assert status in ("done", "skipped"), (step, status, error)
        if status == "skipped":
            assert "not connected" in error, (step, error)
    assert {s for s, st, _ in steps if st == "done"} >= {"dbt.build", "quality.gate"}
    # Onboarding and the daily sync both ran for every connected (agent, source).
    for user_id, integration in connected:
        assert (user_id, integration, "onboarding") in kinds
        assert (user_id, integration, "daily") in kinds
    # The exit code tells the truth about the run: 0, and the daily sync reported.
    assert "daily sync steps" in out
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
