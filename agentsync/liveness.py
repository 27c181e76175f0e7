"""Process leases: is the process that owns a run still alive?

A job or a sync run records its ``owner``: the lease of the process doing the work, a string
``host:pid:token``. The process holds a PostgreSQL advisory lock named after its lease, on a
connection of its own, for as long as it lives (one lease per process and database). When the
process dies — ``kill -9``, a machine restart, an out-of-memory kill — PostgreSQL ends its session
and drops the lock with it, so anyone can tell a dead run from a slow one at once, on any machine
that reaches the database: the lease's lock can be taken.

This is what lets the dispatcher re-queue an interrupted onboarding by itself and health report it
the moment it happens (:mod:`agentsync.recovery`), instead of after the stuck-job threshold.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from agentsync import db
from agentsync.settings import Settings

_KEY = "hashtextextended('agentsync:lease:' || :t, 0)"
_lock = threading.Lock()
_leases: dict[
    str, tuple[str, Connection]
] = {}  # database URL -> (lease, the connection holding it)


def owner_token(settings: Settings | None = None) -> str:
    """This process's lease on the configured database (taken on first use, kept until exit)."""
    url = db.sqlalchemy_url(settings)
    with _lock:
        held = _leases.get(url)
        if held is not None:
            token, conn = held
            try:  # the lease holds only while its session lives (a dropped database ends it)
                conn.execute(text("select 1")).scalar()
                conn.commit()
                return token
            except Exception:
                with contextlib.suppress(Exception):
                    conn.invalidate()
                    conn.close()
                del _leases[url]
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        conn = db.engine(settings).connect()
        conn.execute(text(f"select pg_advisory_lock({_KEY})"), {"t": token})
        conn.commit()
        _leases[url] = (token, conn)
        return token


def alive(owners: Iterable[str], settings: Settings | None = None) -> set[str]:
    """The owners in ``owners`` whose process still holds its lease.

    A lease whose lock can be taken belongs to a process that is gone (the lock is released again
    at once). This process's own lease is alive: it is held on another session.
    """
    wanted = sorted({o for o in owners if o})
    if not wanted:
        return set()
    living: set[str] = set()
    with db.engine(settings).connect() as conn:
        for owner in wanted:
            got = conn.execute(text(f"select pg_try_advisory_lock({_KEY})"), {"t": owner}).scalar()
            if got:
                conn.execute(text(f"select pg_advisory_unlock({_KEY})"), {"t": owner})
            else:
                living.add(owner)
        conn.commit()
    return living


def release_all() -> None:
    """Give up this process's leases (when its database handles are released)."""
    with _lock:
        for _token, conn in _leases.values():
            with contextlib.suppress(Exception):
                conn.close()
        _leases.clear()


db.on_release(release_all)
