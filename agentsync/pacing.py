"""Request slots per vendor account, shared by every thread, process and machine.

A vendor counts one account's requests together, whoever sends them. Agents sync concurrently
(threads of one daily sync, several flow runs, several workers), and a pace kept in one process
would let two processes double an account's rate. So the pace lives in the database they all
share: ``ops.api_pacing`` holds, per account key, when its recent requests were answered and
which are in flight, in the database's clock (machines' clocks never need to agree).
:func:`reserve` books the next slot in one statement and answers how long to wait for it;
:func:`done` records the answer; :func:`hold` moves every process's next slot past a
``Retry-After``.

A slot is the earliest moment at which fewer than ``cap`` of the account's requests can count in
the ``window`` before it: a sliding window like FUB's own, so an idle account may burst up to its
limit and a busy one runs at its limit, never over it. The vendor sees a request at some moment
between its slot and its answer, so one in flight holds a place in the window and an answered one
counts until ``window`` after its answer: whatever the latency, no window the vendor counts holds
more than ``cap``. ``cap`` and ``window`` come from the
vendor's ``X-RateLimit-*`` headers, less a reserve (:class:`dlt_pipelines.http.RateGate`).
A request costs two short statements (its slot and its completion).

If the database cannot be reached the pace falls back to the process's own (one warning):
pacing keeps an account clear of 429s, and a 429 is still waited out, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text

from agentsync import db

log = logging.getLogger(__name__)

_RESERVE = text("select wait, slot from ops.api_slot(:account, :cap, :window)")
_DONE = text("select ops.api_slot_done(:account, :slot)")
_HOLD = text(
    """
    insert into ops.api_pacing as p (account, held_until)
    values (:account, extract(epoch from clock_timestamp()) + :seconds)
    on conflict (account) do update
       set held_until = greatest(p.held_until, excluded.held_until), updated_at = now()
    """
)

_RECORD = text(
    """
    insert into ops.api_pacing as p (account, done_at)
    values (:account, array[extract(epoch from clock_timestamp())::double precision])
    on conflict (account) do update
       set done_at = p.done_at || excluded.done_at, updated_at = now()
    """
)

_warned = threading.Event()


def reserve(account: str, cap: int, window: float) -> tuple[float, float | None] | None:
    """Book the account's next request slot: the earliest time at which fewer than ``cap`` of
    its requests can count in the ``window`` seconds before. ``(seconds to wait, slot)``; hand
    the slot to :func:`done` when the answer is back. ``(seconds, None)``: every place is held
    by a request in flight; ask again after that long.

    ``None`` when the shared slots are out of reach (the caller paces on its own)."""
    try:
        with db.begin() as conn:
            wait, slot = conn.execute(
                _RESERVE, {"account": account, "cap": cap, "window": window}
            ).one()
    except Exception as err:  # pacing must never fail a request
        _warn(err)
        return None
    # ``wait`` counts from the end of the database's call (migration 0013), after it queued for
    # the account's row: waiting all of it is never early, and not late by the queueing.
    return max(0.0, float(wait)), None if slot is None else float(slot)


def done(account: str, slot: float) -> None:
    """The request booked at ``slot`` has its response: it counts from now on, not from its slot
    (the vendor saw it at some moment in between; only the later bound keeps the window safe)."""
    try:
        with db.begin() as conn:
            conn.execute(_DONE, {"account": account, "slot": slot})
    except Exception as err:
        _warn(err)


def record(account: str) -> bool:
    """A request sent without a slot (before the pace was known) has its response: it counts
    from now. False when the shared slots are out of reach."""
    try:
        with db.begin() as conn:
            conn.execute(_RECORD, {"account": account})
    except Exception as err:
        _warn(err)
        return False
    return True


def hold(account: str, seconds: float) -> None:
    """No process sends to ``account`` for ``seconds`` (a 429's ``Retry-After``)."""
    try:
        with db.begin() as conn:
            conn.execute(_HOLD, {"account": account, "seconds": seconds})
    except Exception as err:
        _warn(err)


def _warn(err: Exception) -> None:
    if not _warned.is_set():
        _warned.set()
        log.warning(
            "shared request pacing unavailable (%s); pacing this process on its own",
            type(err).__name__,
        )
