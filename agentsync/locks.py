"""PostgreSQL advisory locks that keep runs apart, across processes and machines.

- one onboarding per agent at a time: ``agent_lock(user_id)`` (try-lock; a second run for the same
  agent is refused at once, it does not queue behind the first);
- at most ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS`` onboardings in total: ``onboarding_slot()``
  takes one of N slot locks, waiting for one to free up;
- one dbt invocation at a time against the database: ``dbt_lock()`` (incremental marts and the
  processed-load bookkeeping are written by one invocation at a time). Every dbt invocation
  takes it: :func:`agentsync.transform.run_dbt` holds it around dbt, so the flows, the FUB
  webhook worker, the quality gate, ``agentsync rebuild`` and ``agentsync docs`` all queue on
  the same lock. It is re-entrant within a thread (a caller that already holds it, such as
  ``flows.after_load.dbt_build``, does not deadlock on the nested ``run_dbt``) and, since dbt's
  invocation context is process-global, it also serialises the threads of one process.

Each lock lives on its own database connection, so it is released when the block ends or when the
process dies (a killed run never leaves a lock behind). Advisory locks are per database.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from sqlalchemy import text

from agentsync import db
from agentsync.errors import ConflictError
from agentsync.settings import Settings, get_settings


def _key_sql(name: str) -> str:
    return f"hashtextextended('agentsync:{name}', 0)"


@contextlib.contextmanager
def _held(name: str, *, wait: bool, settings: Settings | None = None) -> Iterator[bool]:
    conn = db.engine(settings).connect()
    try:
        fn = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        got = conn.execute(text(f"select {fn}({_key_sql(name)})")).scalar()
        conn.commit()
        got = True if wait else bool(got)
        try:
            yield got
        finally:
            if got:
                conn.execute(text(f"select pg_advisory_unlock({_key_sql(name)})"))
                conn.commit()
    finally:
        conn.close()


@contextlib.contextmanager
def agent_lock(user_id: int) -> Iterator[None]:
    """Hold the agent's onboarding lock; :class:`ConflictError` if another run holds it."""
    with _held(f"onboard:{int(user_id)}", wait=False) as got:
        if not got:
            raise ConflictError(f"an onboarding for agent {user_id} is already running")
        yield


@contextlib.contextmanager
def onboarding_slot(
    max_slots: int | None = None, timeout_seconds: float = 6 * 3600, poll_seconds: float = 1.0
) -> Iterator[int]:
    """Hold one of ``max_slots`` onboarding slots (default from settings); yields its number."""
    slots = max_slots or get_settings().max_concurrent_onboardings
    deadline = time.monotonic() + timeout_seconds
    while True:
        for slot in range(slots):
            with _held(f"onboard-slot:{slot}", wait=False) as got:
                if got:
                    yield slot
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no onboarding slot free after {timeout_seconds:.0f}s "
                f"(AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS={slots})"
            )
        time.sleep(poll_seconds)


# dbt's invocation context is process-global: one thread of this process at a time, and the
# thread that holds it may take it again (the advisory lock is then held once, on one connection).
_dbt_thread_lock = threading.RLock()
_dbt_depth = 0  # nesting depth of the thread holding _dbt_thread_lock (only it touches this)


@contextlib.contextmanager
def dbt_lock(settings: Settings | None = None) -> Iterator[None]:
    """Wait for and hold the database-wide dbt lock (re-entrant within a thread)."""
    global _dbt_depth
    with _dbt_thread_lock:
        if _dbt_depth:
            _dbt_depth += 1
            try:
                yield
            finally:
                _dbt_depth -= 1
            return
        with _held("dbt", wait=True, settings=settings):
            _dbt_depth = 1
            try:
                yield
            finally:
                _dbt_depth = 0


def pipeline_lock_wait_seconds() -> float:
    """How long a run waits for its pipeline's lock (``AGENTSYNC_PIPELINE_LOCK_WAIT_SECONDS``)."""
    return get_settings().pipeline_lock_wait_seconds


def _agent_of(pipeline_name: str) -> str:
    _, sep, tail = pipeline_name.rpartition("_user_")
    return tail if sep else "?"


@contextlib.contextmanager
def pipeline_lock(
    pipeline_name: str,
    wait: float | None = None,
    poll_seconds: float = 0.2,
    settings: Settings | None = None,
) -> Iterator[None]:
    """Hold the lock of one dlt pipeline (one writer per pipeline working dir and state).

    Every path that runs a dlt pipeline holds it while the pipeline extracts, normalizes and
    loads: the daily sync, onboarding, the FUB webhook worker and ``agentsync webhooks process``.
    A second run of the same pipeline **waits** (it does not crash and does not corrupt the
    first run's packages) for up to ``wait`` seconds (default
    ``AGENTSYNC_PIPELINE_LOCK_WAIT_SECONDS``, 1800); after that it raises a plain
    :class:`ConflictError` ("another run holds pipeline X for agent N"). ``wait=0`` tries once.
    The lock is a PostgreSQL advisory lock on its own connection, so it holds across processes
    and machines and vanishes with a dead process.
    """
    budget = pipeline_lock_wait_seconds() if wait is None else max(0.0, float(wait))
    deadline = time.monotonic() + budget
    name = f"pipeline:{pipeline_name}"
    while True:
        with _held(name, wait=False, settings=settings) as got:
            if got:
                yield
                return
        if time.monotonic() >= deadline:
            raise ConflictError(
                f"another run holds pipeline {pipeline_name} for agent {_agent_of(pipeline_name)}"
                f" (waited {budget:.0f}s)"
            )
        time.sleep(poll_seconds)
