"""What a long command shows while it runs: each agent's step and its progress inside the step.

``onboard run``, ``sync`` and the demo draw the same display from the flows' step events and the
sources' progress (:mod:`agentsync.progress`): in a terminal, a live line per agent (``agent 101:
fub.people … 12,300 / 50,000 people``) and one printed line per finished step; in a pipe or a
file, plain lines only — each finished step, and a step's progress at most every
:data:`PLAIN_EVERY_S` seconds, so a 15-minute step still says it is alive.

While the live display runs, every log handler that writes to the terminal writes through it, so
a warning prints above the display instead of breaking into it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from agentsync import progress as step_progress
from agentsync.commands.output import make_console

PLAIN_EVERY_S = 30.0


def finished_line(event: dict[str, Any]) -> str:
    """``✓ agent 101: fub.people done 2,350 rows (4.2s)`` (with `` — error`` when it failed)."""
    mark = {"done": "✓", "failed": "✗", "skipped": "-"}.get(event["status"], "?")
    unit = event.get("unit") or "rows"
    rows = f" {event['rows']:,} {unit}" if event.get("rows") is not None else ""
    user = event.get("user_id")
    who = f"agent {user}" if user is not None else "all agents"
    return (
        f"  {mark} {who}: {event['step']} {event['status']}{rows}"
        f" ({event.get('seconds') or 0:.1f}s)"
        + (f" — {event['error']}" if event.get("error") else "")
    )


def progress_text(event: dict[str, Any]) -> str:
    """``fub.people … people 12,300 / 50,000 records`` from a ``step_progress`` event."""
    done = f"{event['done']:,}"
    if event.get("total") is not None:
        done += f" / {event['total']:,}"
    return f"{event['step']} … {event['what']} {done} {event.get('unit') or 'records'}"


class LiveDisplay:
    """A rich progress display fed by step and progress events (one task line per agent)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[Any, Any] = {}

    def _task(self, user: Any, label: str, total: int | None = None) -> Any:
        if user not in self.tasks:
            self.tasks[user] = self.progress.add_task(label, total=total)
        return self.tasks[user]

    def __call__(self, event: dict[str, Any]) -> None:
        user = event.get("user_id")
        kind = event["event"]
        if kind == "job_started":
            self.tasks[user] = self.progress.add_task(
                f"onboarding agent {user}", total=len(event["steps"])
            )
        elif kind == "sync_agent_started":
            self.tasks[user] = self.progress.add_task(f"daily sync agent {user}", total=None)
        elif kind == "step_started":
            task = self._task(user, f"agent {user}")
            self.progress.update(task, description=f"agent {user}: {event['step']} …")
        elif kind == "step_progress" and user in self.tasks:
            self.progress.update(
                self.tasks[user], description=f"agent {user}: {progress_text(event)}"
            )
        elif kind == "step_finished":
            self.progress.console.print(finished_line(event), markup=False, highlight=False)
            if user in self.tasks:
                self.progress.advance(self.tasks[user])
        elif kind == "sync_agent_finished" and user in self.tasks:
            self.progress.update(
                self.tasks[user],
                description=f"daily sync agent {user}: {event['failed']} failed step(s)",
                total=1,
                completed=1,
            )
        elif kind == "job_finished" and user in self.tasks:
            self.progress.update(
                self.tasks[user], description=f"onboarding agent {user}: {event['status']}"
            )


class PlainLines:
    """The same events as plain lines, for a pipe or a file."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.said_at: dict[tuple[Any, str], float] = {}

    def _say(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        user = event.get("user_id")
        if kind == "step_finished":
            self.said_at.pop((user, event["step"]), None)  # the next run of it starts afresh
            self._say(finished_line(event))
        elif kind == "step_progress":
            key = (user, event["step"])
            now = time.monotonic()
            if now - self.said_at.setdefault(key, now) >= PLAIN_EVERY_S:
                self.said_at[key] = now
                self._say(f"  … agent {user}: {progress_text(event)}")
        elif kind == "job_finished":
            self._say(f"agent {user}: onboarding {event['status']}")


def _terminal_handlers(streams: tuple[Any, ...]) -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    found = []
    for logger in loggers:
        for handler in logger.handlers:
            inner = getattr(getattr(handler, "console", None), "file", None)
            if getattr(handler, "stream", None) in streams or inner in streams:
                found.append(handler)
    return found


@contextmanager
def _logs_through(console: Console, streams: tuple[Any, ...]) -> Iterator[None]:
    """Point the terminal's log handlers (plain ``StreamHandler`` and Prefect's rich one) at
    ``console``'s live-safe file until the block ends."""
    target = sys.stderr  # inside a live display: rich's proxy that prints above it
    swapped: list[tuple[logging.Handler, str, Any]] = []
    for handler in _terminal_handlers(streams):
        inner = getattr(handler, "console", None)
        if isinstance(inner, Console):
            swapped.append((handler, "console", inner.file))
            inner.file = target
        elif isinstance(handler, logging.StreamHandler):
            swapped.append((handler, "stream", handler.setStream(target)))
    try:
        yield
    finally:
        for handler, kind, old in swapped:
            if kind == "console":
                handler.console.file = old  # type: ignore[attr-defined]
            else:
                handler.setStream(old)  # type: ignore[attr-defined]


@contextmanager
def step_display(console: Console) -> Iterator[Progress | None]:
    """Show the flows' steps on ``console`` until the block ends: a live display in a terminal
    (yields its :class:`Progress`, whose ``console`` prints above it), plain lines otherwise
    (yields ``None``)."""
    from flows.runner import subscribe

    streams = (sys.__stderr__, sys.__stdout__, sys.stderr, sys.stdout)
    if not console.is_terminal:
        plain = PlainLines(console)
        stop_steps, stop_progress = subscribe(plain), step_progress.listen(plain)
        try:
            yield None
        finally:
            stop_steps()
            stop_progress()
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as live:
        display = LiveDisplay(live)
        stop_steps, stop_progress = subscribe(display), step_progress.listen(display)
        try:
            with _logs_through(console, streams):
                yield live
        finally:
            stop_steps()
            stop_progress()


@contextmanager
def command_display(enabled: bool = True) -> Iterator[None]:
    """A command's step display on stderr (stdout keeps the command's result); nothing when
    ``enabled`` is false (``--json``: logs alone on stderr)."""
    if not enabled:
        yield
        return
    with step_display(make_console(stderr=True)):
        yield
