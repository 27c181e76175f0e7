"""Progress inside a step: how many records (or pages, people) a running step has read so far.

A step can run for many minutes (an agent's whole FUB history, one texts request per person),
and the step events say only when it starts and ends. The sources call :func:`add` as they read
pages; the flows' step runner opens :func:`step` around each step, so the count belongs to the
agent and step that read it, in whichever thread runs the agent. Listeners (:func:`listen`, the
CLI's progress display) get a ``step_progress`` event at most every :data:`INTERVAL_S` seconds
per step, so counting costs nothing measurable on a page walk.

With no step open, or no listener, :func:`add` does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

INTERVAL_S = 0.5
Listener = Callable[[dict[str, Any]], None]
_listeners: list[Listener] = []


@dataclass
class _Step:
    user_id: int | None
    name: str
    done: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    sent_at: float | None = None  # when the last event was sent (the first is sent at once)


_current: ContextVar[_Step | None] = ContextVar("agentsync_progress_step", default=None)


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener(event)`` for every progress event; returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


@contextmanager
def step(user_id: int | None, name: str) -> Iterator[None]:
    """Count what is read until the block ends as ``name``'s progress for ``user_id``."""
    token = _current.set(_Step(user_id, name))
    try:
        yield
    finally:
        _current.reset(token)


def add(n: int, what: str, total: int | None = None, unit: str = "records") -> None:
    """``n`` more ``unit`` of ``what`` (``people``, ``transactions``) read by the current step;
    ``total`` when the source said how many there are in all."""
    current = _current.get()
    if current is None or not _listeners:
        return
    current.done[what] = current.done.get(what, 0) + n
    if total is not None:
        current.totals[what] = total
    now = time.monotonic()
    if current.sent_at is not None and now - current.sent_at < INTERVAL_S:
        return
    current.sent_at = now
    event = {
        "event": "step_progress",
        "user_id": current.user_id,
        "step": current.name,
        "what": what,
        "done": current.done[what],
        "total": current.totals.get(what),
        "unit": unit,
    }
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # a display problem must never break a run
            log.exception("progress listener failed")
