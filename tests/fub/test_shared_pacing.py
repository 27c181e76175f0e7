"""Concurrent runs on one FUB account stay within its rate together (issue 17, item 2).

A vendor counts one account's requests together, whoever sends them. Two real processes walk
the same agent's FUB account at once, each from eight threads, against the sandbox with its
global limit lowered to 40 requests per 10 s (so the test takes seconds, not minutes). The
sandbox counts what it served and refused per account; nothing here is mocked.

- Shared pacing (the default): the account is never asked for more than it allows, so the
  sandbox refuses nothing, and every request is served.
- The control, each process pacing on its own (``AGENTSYNC_SHARED_REQUEST_PACING=false``): each
  process keeps to the account's limit alone, together they ask for more than it allows, and
  the sandbox answers 429s (waited out, so everything is still served).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from agentsync import db
from tests.fub.conftest import add_agent

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40  # the sandbox's global limit for this test, per 10 s window
PROCESSES, THREADS, PER_THREAD = 2, 8, 4  # 64 requests: more than one window's 40


def _walk(
    env: dict[str, str], sandbox: Any, url: str, shared: bool, tmp: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    add_agent(sandbox, 101)
    db.ensure_ready()
    control = f"{url}/_sandbox/fub/ratelimit"
    httpx.post(control, json={"enabled": True, "limits": {"global": LIMIT}}).raise_for_status()
    go = tmp / "go"
    penv = {
        **os.environ,
        **env,
        "AGENTSYNC_SHARED_REQUEST_PACING": "true" if shared else "false",
        "AGENTSYNC_FUB_MAX_CONCURRENT_REQUESTS": str(THREADS),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "tests.fub.pacing_probe", "101", str(THREADS), str(PER_THREAD)]
    procs = [
        subprocess.Popen(
            [*cmd, str(go)],
            cwd=ROOT,
            env=penv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:  # every process has its client (and its /identity answer) first
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
        httpx.post(control, json={"enabled": True, "limits": {"global": LIMIT}}).raise_for_status()
        go.touch()
        outs = [proc.communicate(timeout=240) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    return results, httpx.get(control).json()


def test_two_processes_on_one_account_share_its_rate(sandbox_env, sandbox_server, tmp_path) -> None:
    started = time.monotonic()
    results, report = _walk(sandbox_env, sandbox_server.sandbox, sandbox_server.url, True, tmp_path)
    elapsed = time.monotonic() - started
    total = PROCESSES * THREADS * PER_THREAD
    assert [r["served"] for r in results] == [THREADS * PER_THREAD] * PROCESSES
    assert all(r["pace"] == [LIMIT - 5, 10.0] for r in results)  # learned from the headers
    assert report["refused"] == {}, report  # the account was never asked for more than it allows
    assert report["allowed"] == {"101:global": total}
    assert sum(r["responses_429"] for r in results) == 0
    # and it was the pace that kept it so: 64 requests at 35 per 10 s take over one window
    assert elapsed > 10.0


def test_control_processes_pacing_alone_overrun_the_account(
    sandbox_env, sandbox_server, tmp_path
) -> None:
    results, report = _walk(
        sandbox_env, sandbox_server.sandbox, sandbox_server.url, False, tmp_path
    )
    assert [r["served"] for r in results] == [THREADS * PER_THREAD] * PROCESSES  # waited out
    assert report["refused"].get("101:global", 0) > 0, report
    assert sum(r["responses_429"] for r in results) == report["refused"]["101:global"]
