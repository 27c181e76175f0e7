"""The embedded PostgreSQL: started on demand, reused across processes, stopped cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

AGENTSYNC = str(Path(sys.executable).with_name("agentsync"))

HOLD = """
import sys, time
from agentsync import db
from agentsync.settings import get_settings
db.ensure_ready()
print(db.embedded_server_pid(get_settings()), flush=True)
sys.stdin.readline()
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSYNC_")}
    env["AGENTSYNC_DATA_DIR"] = str(data_dir)
    return env


def test_server_is_shared_by_two_processes_and_stops_after_the_last(tmp_path):
    env = _env(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid1 = int(first.stdout.readline())
    second = subprocess.Popen(
        [sys.executable, "-c", HOLD],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid2 = int(second.stdout.readline())
    assert pid1 == pid2, "the second process must reuse the running server"

    # A CLI command in between also reuses it, and leaves it running for the holders.
    status = subprocess.run(
        [AGENTSYNC, "db", "status", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    assert f'"server_pid": {pid1}' in status.stdout

    first.communicate("\n", timeout=60)
    os.kill(pid1, 0)  # still running: the second process holds it
    second.communicate("\n", timeout=60)
    deadline = time.monotonic() + 30
    while (tmp_path / "pgdata" / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), (
        "server not stopped after last handle"
    )

    # and it starts again, with the data kept
    again = subprocess.run(
        [AGENTSYNC, "db", "status", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and '"migration": "' in again.stdout


def test_external_url_never_starts_a_server(agentsync_env, tmp_path):
    env = {k: v for k, v in os.environ.items()}
    env["AGENTSYNC_DATA_DIR"] = str(tmp_path / "unused")
    proc = subprocess.run(
        [AGENTSYNC, "db", "status", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert '"mode": "external"' in proc.stdout
    assert not (tmp_path / "unused" / "pgdata").exists()
