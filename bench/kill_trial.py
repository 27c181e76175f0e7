"""One kill trial: a real onboarding in a subprocess, ``kill -9`` of its main pid, recovery by the
dispatcher path alone (issue 15). Shared by ``tests/flows/test_e2e.py`` and
``bench/bench_kill_soak.py``.

- :func:`start_onboarding` runs ``agentsync onboard run --user-id N`` in a subprocess with its own
  ``PREFECT_HOME`` (so it starts Prefect's temporary API server as a child, as a CLI or a worker
  without ``PREFECT_API_URL`` does);
- :func:`kill_main` sends SIGKILL to that pid only (not its process group: the children are left
  behind as they are when a worker dies);
- :func:`recover` runs ``agentsync onboard run`` **without** ``--user-id`` (the dispatcher path:
  ``flows.dispatcher.dispatch_once``) with the same ``PREFECT_HOME``, and notes when the job was
  re-queued (its ``interruptions`` count goes up, and stays up until a run ends normally);
- :func:`orphans` lists what a killed run may leave: a Prefect temporary server of that
  ``PREFECT_HOME`` and an embedded PostgreSQL of that data dir;
- :func:`mart_rows` / :func:`diff_rows` compare every mart's rows for one agent with a clean
  run's (columns that name loads or clock times left out).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import text

from agentsync import db

VOLATILE = ("_dlt", "load_id", "loaded_at", "processed_at", "taken_at", "synced_at")
PREFECT_APP = "prefect.server.api.server:create_app"


def start_onboarding(
    user_id: int, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen:
    """``agentsync onboard run --user-id N`` in a subprocess (its output to ``log``)."""
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "agentsync.cli", "onboard", "run", "--user-id", str(user_id)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )


def kill_main(proc: subprocess.Popen) -> float:
    """SIGKILL to the main pid only (a dying worker); returns ``time.monotonic()`` of the kill."""
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    proc.wait(30)
    return killed


def job_state(user_id: int) -> tuple[str | None, int, str | None]:
    """``(status, interruptions, running step)`` of the agent's onboarding job."""
    with db.begin() as conn:
        row = conn.execute(
            text(
                """
                select j.status, j.interruptions,
                       (select s.step from ops.onboarding_steps as s
                         where s.job_id = j.job_id and s.status = 'running'
                         order by s.ordinal limit 1) as step
                  from ops.onboarding_jobs as j where j.user_id = :u
                """
            ),
            {"u": user_id},
        ).first()
    return (row.status, row.interruptions, row.step) if row else (None, 0, None)


def step_status(step: str) -> str | None:
    with db.begin() as conn:
        return conn.execute(
            text("select status from ops.onboarding_steps where step = :s"), {"s": step}
        ).scalar()


@dataclass
class Recovery:
    """What :func:`recover` saw."""

    exit_code: int
    seconds_to_requeue: float | None  # from the kill to the job re-queued (None: never seen)
    seconds: float  # the whole recovery command


def recover(
    user_id: int,
    env: dict[str, str],
    killed_at: float,
    log: Path | None = None,
    timeout: float = 900,
) -> Recovery:
    """``agentsync onboard run`` (no ``--user-id``: the dispatcher path) until it exits.

    While it runs, the job is polled every 50 ms: the first time it shows an interruption (or
    status New) is when the dispatcher re-queued it.
    """
    out = log.open("ab") if log else subprocess.DEVNULL
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentsync.cli", "onboard", "run"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    requeued: float | None = None
    deadline = started + timeout
    while proc.poll() is None:
        if requeued is None:
            status, interruptions, _ = job_state(user_id)
            if status == "New" or interruptions > 0:
                requeued = time.monotonic()
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(30)
            break
        time.sleep(0.05)
    return Recovery(
        proc.returncode if proc.returncode is not None else -1,
        None if requeued is None else requeued - killed_at,
        time.monotonic() - started,
    )


def orphans(prefect_home: Path, data_dir: Path) -> list[str]:
    """Living helper processes of this ``PREFECT_HOME`` / data dir (each as ``pid name``)."""
    home = str(Path(prefect_home).resolve())
    pgdata = str(Path(data_dir).resolve() / "pgdata")
    found: list[str] = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        try:
            cmd = proc.info["cmdline"] or []
            if PREFECT_APP in cmd:
                env = proc.environ()
                if env.get("PREFECT__SERVER_EPHEMERAL") == "1" and (
                    str(Path(env.get("PREFECT_HOME", "")).resolve()) == home
                ):
                    found.append(f"{proc.pid} prefect temporary server")
            elif "postgres" in (proc.info["name"] or "") and any(pgdata in c for c in cmd):
                found.append(f"{proc.pid} postgres of {pgdata}")
        except psutil.Error:
            continue
    return found


def wait_no_orphans(prefect_home: Path, data_dir: Path, timeout: float = 15) -> list[str]:
    """:func:`orphans`, polled until none is left or ``timeout`` (a reaped server needs a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        left = orphans(prefect_home, data_dir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


def mart_rows(user_id: int) -> dict[str, list[tuple]]:
    """Every mart's rows for one agent, without columns that name loads or clock times."""
    out: dict[str, list[tuple]] = {}
    with db.begin() as conn:
        tables = conn.execute(
            text(
                "select table_name from information_schema.columns where table_schema = 'marts' "
                "and column_name = 'user_id' order by 1"
            )
        ).scalars()
        for table in tables:
            cols = [
                c
                for c in conn.execute(
                    text(
                        "select column_name from information_schema.columns "
                        "where table_schema = 'marts' and table_name = :t order by ordinal_position"
                    ),
                    {"t": table},
                ).scalars()
                if not c.startswith(VOLATILE) and not c.endswith(VOLATILE)
            ]
            select = ", ".join(f'"{c}"::text' for c in cols)
            rows = conn.execute(
                text(f'select {select} from marts."{table}" where user_id = :u'), {"u": user_id}
            ).all()
            out[table] = sorted(tuple("" if v is None else v for v in r) for r in rows)
    return out


def diff_rows(clean: dict[str, list[tuple]], got: dict[str, list[tuple]]) -> tuple[int, int]:
    """``(lost, duplicated)``: rows of the clean run missing from ``got``, and rows beyond them.

    A row that differs in any compared column counts once as lost and once as extra.
    """
    lost = extra = 0
    for table in set(clean) | set(got):
        want, have = Counter(clean.get(table, [])), Counter(got.get(table, []))
        lost += sum((want - have).values())
        extra += sum((have - want).values())
    return lost, extra


def sync_runs(user_id: int) -> list[tuple]:
    """``(source, entity, status, error)`` of every sync run of the agent, oldest first."""
    with db.begin() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select source, entity, status, error from ops.sync_runs where user_id = :u "
                    "order by run_id"
                ),
                {"u": user_id},
            )
        ]


def sync_runs_truthful(runs: list[tuple]) -> list[str]:
    """What is wrong with the sync runs after a recovery (empty: they tell the truth).

    No run is left ``running``; every failed run says why (an interrupted one says
    ``interrupted``); every entity that was ever run has a ``done`` run.
    """
    problems: list[str] = []
    entities = {(s, e) for s, e, _, _ in runs}
    for source, entity, status, error in runs:
        if status == "running":
            problems.append(f"{source}.{entity} still running")
        if status == "failed" and not error:
            problems.append(f"{source}.{entity} failed without a reason")
    for source, entity in sorted(entities):
        if not any(s == source and e == entity and st == "done" for s, e, st, _ in runs):
            problems.append(f"{source}.{entity} has no done run")
    return problems
