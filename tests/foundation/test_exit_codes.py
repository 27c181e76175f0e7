"""Every documented exit code, from the real ``agentsync`` command, with no traceback.

The README's table: 0 ok; 1 the work failed; 2 bad setting or input; 3 database unreachable;
4 not found; 5 conflict; 6 a vendor API refused. Each case runs the installed console script in
a subprocess (as an operator or a scheduler would) and checks the code, that an error is one line
on stderr naming its cause, and that no traceback reaches either stream.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from agentsync import agents

AGENTSYNC = str(Path(sys.executable).with_name("agentsync"))
AGENT = 71
REZEN = {"rezen": {"api_key": "exit-code-rezen-key"}}

# Commands that read the database: each must say "unreachable" (3) and "bad setting" (2) alike.
DATABASE_COMMANDS = [
    ["users", "list"],
    ["db", "status"],
    ["onboard", "status"],
    ["onboard", "run"],
    ["sync"],
    ["health"],
    ["reconcile"],
    ["quality-gate", "--skip-dbt"],
    ["alert", "--dry-run"],
    ["dbt", "ls"],
]


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSYNC_", "PREFECT_"))}
    full.update({"PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "200", **env})
    return subprocess.run([AGENTSYNC, *args], env=full, capture_output=True, text=True, timeout=600)


def _check(proc: subprocess.CompletedProcess, code: int, says: str | None = None) -> None:
    shown = (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    assert proc.returncode == code, shown
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    if code >= 2:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("agentsync: ")]
        assert len(errors) == 1, shown
        if says:
            assert says in errors[0], shown


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_unreachable_database_is_3_and_a_bad_setting_is_2(args, tmp_path):
    unreachable = {
        "AGENTSYNC_DATABASE_URL": "postgresql://u:exit-pw@127.0.0.1:1/agentsync",
        "AGENTSYNC_DATA_DIR": str(tmp_path / "data"),
    }
    proc = _run(args, unreachable, tmp_path)
    _check(proc, 3)
    assert "exit-pw" not in proc.stdout + proc.stderr
    bad = {**unreachable, "AGENTSYNC_BACKLOG_WARN_ROWS": "lots"}
    _check(_run(args, bad, tmp_path), 2, "AGENTSYNC_BACKLOG_WARN_ROWS")


def test_not_found_conflict_and_input_errors(agentsync_env, tmp_path):
    agents.add_agent(AGENT, "Exit Codes", REZEN)
    env = dict(agentsync_env)
    _check(_run(["users", "list"], env, tmp_path), 0)
    for args in (
        ["sync", "--user-id", "999"],
        ["onboard", "run", "--user-id", "999"],
        ["onboard", "status", "--user-id", "999"],
        ["quality-gate", "--user-id", "999", "--skip-dbt"],
        ["reconcile", "--user-id", "999"],
        ["users", "remove", "--user-id", "999"],
    ):
        _check(_run(args, env, tmp_path), 4, "999")
    _check(
        _run(["users", "add", "--user-id", str(AGENT), "--name", "Again"], env, tmp_path),
        5,
        str(AGENT),
    )
    _check(_run(["sync", "--source", "bogus"], env, tmp_path), 2, "bogus")


def test_a_second_onboarding_of_one_agent_is_a_conflict(agentsync_env, tmp_path):
    from agentsync.locks import agent_lock

    agents.add_agent(AGENT, "Exit Codes", REZEN)
    with agent_lock(AGENT):  # an onboarding of this agent is running (in this process)
        proc = _run(["onboard", "run", "--user-id", str(AGENT)], dict(agentsync_env), tmp_path)
    _check(proc, 5, f"agent {AGENT} is already running")


@pytest.mark.parametrize("args", [["sync"], ["onboard", "run", "--user-id", str(AGENT)]])
def test_a_key_that_reads_no_credential_is_a_bad_setting(args, agentsync_env, tmp_path):
    agents.add_agent(AGENT, "Exit Codes", REZEN)
    other = {**agentsync_env, "AGENTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    proc = _run(args, other, tmp_path)
    _check(proc, 2, "AGENTSYNC_ENCRYPTION_KEY")
    assert other["AGENTSYNC_ENCRYPTION_KEY"] not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_refused_vendor_key_is_6_and_then_health_warns_1(sandbox_env, sandbox_server, tmp_path):
    spec = next(
        a
        for a in sandbox_server.sandbox.demo_agents()
        if "api_key" in a["credentials"].get("fub", {})
    )
    agents.add_agent(spec["user_id"], spec["name"], {"fub": {"api_key": "refused-by-fub"}})
    args = ["sync", "--user-id", str(spec["user_id"]), "--source", "fub"]
    proc = _run(args, sandbox_env, tmp_path)
    _check(proc, 6)
    assert "credential refused" in proc.stdout, proc.stdout
    assert "refused-by-fub" not in proc.stdout + proc.stderr
    # The failed work is what health then reports: a warning, exit 1, naming the failing runs.
    health = _run(["health"], sandbox_env, tmp_path)
    _check(health, 1)
    assert "credential refused" in health.stdout, health.stdout
    # An onboarding of that agent ends Partial for the same reason: 6 as well, not 1.
    onboard = _run(["onboard", "run", "--user-id", str(spec["user_id"])], sandbox_env, tmp_path)
    _check(onboard, 6)
    assert "Partial" in onboard.stdout, onboard.stdout
    assert "refused-by-fub" not in onboard.stdout + onboard.stderr
