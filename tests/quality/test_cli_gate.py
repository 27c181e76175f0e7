"""``agentsync quality-gate`` with the committed GX context and the real entity registry."""

from __future__ import annotations

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
