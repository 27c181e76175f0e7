"""``agentsync quality-gate`` with the committed GX context and the real entity registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agentsync import agents
from tests.quality.conftest import execute

pytestmark = pytest.mark.slow


def _gate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "quality-gate", *args],
        capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}, timeout=600,
    )  # fmt: skip


def test_cli_gate_passes_then_fails_naming_the_check(qenv: dict[str, str]) -> None:
    ok = _gate(qenv, "--skip-dbt")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "quality gate: passed" in ok.stdout
    assert "Data Docs: " in ok.stdout and "data_docs/index.html" in ok.stdout

    # an agent whose FUB people sync never succeeded
    agents.add_agent(7, "Agent 7", {"fub": {"api_key": "k"}})
    execute(
        "insert into ops.sync_runs (kind, user_id, source, entity, status, ended_at, error) "
        "values ('daily', 7, 'fub', 'people', 'failed', now(), 'IntegrationError: refused')"
    )
    bad = _gate(qenv, "--skip-dbt")
    assert bad.returncode == 1
    assert (
        "FAIL gx fub.people freshness: every agent has a successful sync (agents 7)" in bad.stdout
    )
    assert "quality gate: FAILED" in bad.stdout

    # --json: stdout is the JSON object alone (dbt's own log lines go to stderr), and it lists
    # every check with what was checked, the threshold, the verdict and each failing agent.
    as_json = _gate(qenv, "--json")
    assert as_json.returncode == 1, as_json.stderr[-3000:]
    report = json.loads(as_json.stdout)
    assert report["success"] is False
    failed = [c for c in report["checks"] if c["verdict"] == "fail"]
    synced = next(
        c for c in failed if (c["source"], c["entity"], c["kind"]) == ("fub", "people", "sync")
    )
    assert synced["column"] == "synced_ok" and synced["threshold"] == {"in": [True]}
    assert synced["agents"] == [{"user_id": 7, "observed": False}]
    passed = [c for c in report["checks"] if c["verdict"] == "pass"]
    assert any(c["kind"] == "count" and c["threshold"] == {"min": 0, "max": 0} for c in passed)
    assert any(c["kind"] == "dbt_test" for c in report["checks"])  # dbt's tests ran, listed too
    assert report["summary"]["fail"] == len(failed) and report["summary"]["pass"] == len(passed)
    assert " START " in as_json.stderr or "Running with dbt" in as_json.stderr  # dbt logged there
