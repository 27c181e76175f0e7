"""Process leases: is the process that owns a run still alive?

A job or a sync run records its ``owner``: the lease of the process doing the work, a string
``host:pid:token``. The process holds a PostgreSQL advisory lock named after its lease, on a
connection of its own, for as long as it lives (one lease per process and database). When the
process dies — ``kill -9``, a machine restart, an out-of-memory kill — PostgreSQL ends its session
and drops the lock with it, so anyone can tell a dead run from a slow one at once, on any machine
that reaches the database: the lease's lock can be taken.

This is what lets the dispatcher re-queue an interrupted onboarding by itself and health report it
the moment it happens (:mod:`agentsync.recovery`), instead of after the stuck-job threshold.

A *claim* is the same idea for one unit of work started elsewhere (an agent's flow run on a
worker, :mod:`flows.sync_agent`): the process doing it holds the claim's lock for as long as it
lives (:func:`claim`), and whoever waits for the work can tell a live run from an abandoned one
(:class:`Fence`). Taking a free claim *keeps* it, so a run judged abandoned that starts after all
(a slow worker, not a dead one) finds its claim taken and does nothing: at most one process ever
does the work of one claim.
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
_CLAIM_KEY = "hashtextextended('agentsync:claim:' || :t, 0)"
_lock = threading.Lock()
_leases: dict[
    str, tuple[str, Connection]
] = {}  # database URL -> (lease, the connection holding it)
_claims: dict[str, Connection] = {}  # claim name -> the connection holding it


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


def claim(name: str, settings: Settings | None = None) -> bool:
    """Take the claim ``name`` for this process, until it exits (or :func:`release_claim`).

    Returns False when another process holds it, or a :class:`Fence` took it because the work
    was given up as abandoned: then this process must not do the work.
    """
    with _lock:
        if name in _claims:
            return True
        conn = db.engine(settings).connect()
        got = conn.execute(text(f"select pg_try_advisory_lock({_CLAIM_KEY})"), {"t": name}).scalar()
        conn.commit()
        if not got:
            conn.close()
            return False
        _claims[name] = conn
        return True


def _end_session(conn: Connection) -> None:
    """Close the connection's database session itself, so every lock it holds goes with it
    (``close`` alone would return it to the pool with its session, and its locks, alive)."""
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()


def release_claim(name: str) -> None:
    """Give up the claim ``name`` (its work is over)."""
    with _lock:
        conn = _claims.pop(name, None)
    if conn is not None:
        _end_session(conn)


class Fence:
    """Takes the claims of work judged abandoned, and keeps them while it is open.

    :meth:`take` succeeds only when no living process holds the claim (its process died, or it
    has not started the work yet); the claim then stays with the fence, so the late process, if
    any, cannot start the work. One database session holds every claim taken; :meth:`close` (or
    the fence's process ending) gives them back.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._conn: Connection | None = None

    def take(self, name: str) -> bool:
        """Take the claim ``name`` if no process holds it (it is then kept)."""
        if self._conn is None:
            self._conn = db.engine(self._settings).connect()
        got = self._conn.execute(
            text(f"select pg_try_advisory_lock({_CLAIM_KEY})"), {"t": name}
        ).scalar()
        self._conn.commit()
        return bool(got)

    def close(self) -> None:
        """Give back every claim taken."""
        if self._conn is not None:
            _end_session(self._conn)
            self._conn = None

    def __enter__(self) -> Fence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def release_all() -> None:
    """Give up this process's leases and claims (when its database handles are released)."""
    with _lock:
        for _token, conn in _leases.values():
            with contextlib.suppress(Exception):
                conn.close()
        _leases.clear()
        for conn in _claims.values():
            _end_session(conn)
        _claims.clear()


db.on_release(release_all)
