"""Helper processes a killed run left behind, cleaned up by the next command that finds them.

Two helpers outlive an agentsync process that is killed (``kill -9``, out of memory):

- **Prefect's temporary API server** (uvicorn, started as a child process when no
  ``PREFECT_API_URL`` is set). It is recognised by its command line
  (``prefect.server.api.server:create_app``), by ``PREFECT__SERVER_EPHEMERAL=1`` and by the
  ``PREFECT_HOME`` in its environment (the one this data dir uses: another install's servers are
  never touched). It is an orphan when the process that started it is gone: its parent is then
  PID 1 or a process that is not Python (whatever adopted it). It is terminated (then killed).
- **The embedded PostgreSQL**. pgserver keeps the PIDs of the processes using it in
  ``<pgdata>/.handle_pids.json`` and stops the server when the last one exits; a killed process
  never removes its PID, so the server would run forever. :func:`prune_pgserver_handles` drops
  the PIDs of processes that no longer exist, so the server stops when the last *living* user
  exits. The command that finds the server running adopts it rather than starting a second one.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PREFECT_APP = "prefect.server.api.server:create_app"


def _is_orphan(proc: psutil.Process) -> bool:
    ppid = proc.ppid()
    if ppid in (0, 1):
        return True
    try:
        parent = psutil.Process(ppid)
        return "python" not in parent.name().lower()
    except psutil.Error:
        return True


def reap_prefect_servers(prefect_home: Path) -> list[int]:
    """Stop temporary Prefect servers of ``prefect_home`` whose launcher is gone; their PIDs."""
    home = str(Path(prefect_home).resolve())
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if PREFECT_APP not in (proc.info["cmdline"] or []):
                continue
            env = proc.environ()
            if env.get("PREFECT__SERVER_EPHEMERAL") != "1":
                continue
            if str(Path(env.get("PREFECT_HOME", "")).resolve()) != home:
                continue
            if _is_orphan(proc):
                found.append(proc)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    for proc in found:
        log.warning(
            "stopping an orphaned Prefect temporary server (pid %s) left by a killed run", proc.pid
        )
        try:
            proc.terminate()
        except psutil.Error:
            continue
    _gone, alive = psutil.wait_procs(found, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return [p.pid for p in found]


def prune_pgserver_handles(pgdata: Path) -> list[int]:
    """Drop PIDs of dead processes from pgserver's handle list; returns the PIDs dropped."""
    path = Path(pgdata) / ".handle_pids.json"
    try:
        pids = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [p for p in pids if not psutil.pid_exists(p)]
    if dead:
        path.write_text(json.dumps([p for p in pids if p not in dead]))
        log.warning(
            "the embedded PostgreSQL in %s was held for %d killed process(es) (pids %s); "
            "it now stops when its last living user exits",
            pgdata,
            len(dead),
            ", ".join(map(str, dead)),
        )
    return dead
