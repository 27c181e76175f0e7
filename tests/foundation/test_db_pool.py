"""The connection pool has room for every agent run a process may have at once (issue 17).

Each agent's run holds its pipeline's lock on a pooled connection for the whole load
(``agentsync.locks.pipeline_lock``) and needs others meanwhile (its sync-run row, its requests'
pacing). The fleet benchmark's daily sync at concurrency 16 failed 67 steps: SQLAlchemy's
default pool (5 + 10 overflow) was all held by 15 pipeline locks, every other statement waited
30 s for a connection and failed. Real PostgreSQL, real locks; nothing is mocked.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from agentsync import db, locks

RUNS = 16  # a daily sync at concurrency 16, as the benchmark ran it


def _runs_hold_locks_and_query(engine_factory) -> list[str]:
    """``RUNS`` threads each take a pipeline lock, wait until all hold theirs, then run one
    statement; returns what went wrong (empty: every run got its connection)."""
    all_locked = threading.Barrier(RUNS, timeout=10)
    problems: list[str] = []

    def run(i: int) -> None:
        try:
            with locks.pipeline_lock(f"fub_user_{9000 + i}", wait=0):
                all_locked.wait()
                with engine_factory().begin() as conn:
                    conn.execute(text("select 1")).scalar()
        except Exception as err:  # the starved pool: a broken barrier or a pool timeout
            problems.append(type(err).__name__)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RUNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return problems


def test_every_concurrent_agent_run_gets_its_connections(agentsync_env, monkeypatch) -> None:
    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_SYNCS", str(RUNS))
    db.ensure_ready()
    assert db.pool_overflow() >= db.CONNECTIONS_PER_RUN * RUNS
    assert _runs_hold_locks_and_query(db.engine) == []


def test_control_the_default_pool_starves_them(agentsync_env, monkeypatch) -> None:
    """The control: SQLAlchemy's default pool, as ``db.engine`` built it before."""
    db.ensure_ready()
    default = sa.create_engine(db.sqlalchemy_url(), pool_pre_ping=True, pool_timeout=5)
    monkeypatch.setattr(db, "engine", lambda settings=None: default)
    try:
        problems = _runs_hold_locks_and_query(lambda: default)
    finally:
        default.dispose()
    assert problems, "16 runs holding locks fitted in the default pool of 15"
    assert set(problems) <= {"BrokenBarrierError", "TimeoutError"}, problems


@pytest.mark.parametrize(("syncs", "onboardings", "least"), [(4, 2, 18), (32, 2, 102)])
def test_the_pool_grows_with_the_concurrency_settings(monkeypatch, syncs, onboardings, least):
    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_SYNCS", str(syncs))
    monkeypatch.setenv("AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS", str(onboardings))
    assert db.pool_overflow() == least
