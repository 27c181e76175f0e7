"""PostgreSQL advisory locks that keep onboarding runs apart, across processes and machines.

- one onboarding per agent at a time: ``agent_lock(user_id)`` (try-lock; a second run for the same
  agent is refused at once, it does not queue behind the first);
- at most ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS`` onboardings in total: ``onboarding_slot()``
  takes one of N slot locks, waiting for one to free up;
- one dbt build at a time against the database: ``dbt_lock()`` (incremental marts and the
  processed-load bookkeeping are written by one invocation at a time).

Each lock lives on its own database connection, so it is released when the block ends or when the
process dies (a killed run never leaves a lock behind). Advisory locks are per database.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from sqlalchemy import text

from agentsync import db
from agentsync.errors import ConflictError
from agentsync.settings import get_settings


def _key_sql(name: str) -> str:
    return f"hashtextextended('agentsync:{name}', 0)"


@contextlib.contextmanager
def _held(name: str, *, wait: bool) -> Iterator[bool]:
    conn = db.engine().connect()
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


@contextlib.contextmanager
def dbt_lock() -> Iterator[None]:
    """Wait for and hold the database-wide dbt lock."""
    with _held("dbt", wait=True):
        yield
