"""What ``onboard run``, ``sync`` and the demo show while they run (no database needed).

The display is fed the events the flows and sources send; these tests render it to a terminal
console and to a pipe and read the text back, and check that a log line written during the live
display comes out through it (above the display) instead of breaking into it.
"""

from __future__ import annotations

import io
import logging
import sys
import threading

from rich.console import Console
from rich.progress import Progress

from agentsync import progress
from agentsync.commands import live


def _events(user_id: int = 101) -> list[dict]:
    return [
        {"event": "job_started", "user_id": user_id, "steps": ["fub.people", "fub.activity"]},
        {"event": "step_started", "user_id": user_id, "step": "fub.people"},
        {
            "event": "step_progress",
            "user_id": user_id,
            "step": "fub.people",
            "what": "people",
            "done": 1200,
            "total": 5000,
            "unit": "records",
        },
    ]


def test_a_terminal_shows_records_so_far_of_the_total_inside_a_step() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=140, color_system=None)
    with Progress(console=console, auto_refresh=False) as bar:
        display = live.LiveDisplay(bar)
        for event in _events():
            display(event)
        bar.refresh()
        assert "agent 101: fub.people … people 1,200 / 5,000 records" in buf.getvalue()
        display(
            {
                "event": "step_finished",
                "user_id": 101,
                "step": "fub.people",
                "status": "done",
                "rows": 5000,
                "seconds": 12.5,
            }
        )
    assert "✓ agent 101: fub.people done 5,000 rows (12.5s)" in buf.getvalue()


def test_a_pipe_gets_plain_lines_and_progress_at_most_every_interval(monkeypatch) -> None:
    buf = io.StringIO()
    plain = live.PlainLines(Console(file=buf, width=80))
    monkeypatch.setattr(live, "PLAIN_EVERY_S", 3600.0)
    for event in _events():
        plain(event)
    assert "…" not in buf.getvalue()  # the first progress event only starts the clock
    monkeypatch.setattr(live, "PLAIN_EVERY_S", 0.0)
    plain(_events()[-1])
    long_error = "reZEN said 502 on page 3 of the transactions walk, " * 3
    plain(
        {
            "event": "step_finished",
            "user_id": 101,
            "step": "rezen.transactions",
            "status": "failed",
            "rows": None,
            "seconds": 1.0,
            "error": long_error,
        }
    )
    text = buf.getvalue()
    assert "  … agent 101: fub.people … people 1,200 / 5,000 records\n" in text
    assert "\x1b[" not in text  # no escape codes in a pipe
    failed = next(line for line in text.splitlines() if "rezen.transactions failed" in line)
    assert failed.rstrip().endswith(long_error.strip())  # one line, not wrapped at 80 columns


def test_a_log_line_during_the_live_display_prints_through_it() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=140, color_system=None)
    logger = logging.getLogger("agentsync.test_live_display")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    original = handler.stream
    try:
        with live.step_display(console) as bar:
            assert bar is not None
            assert handler.stream is not original  # rich's proxy, which prints above the bar
            logger.warning("FUB answered 429; waiting 10 s")
        assert handler.stream is original
    finally:
        logger.removeHandler(handler)
    assert "FUB answered 429; waiting 10 s" in buf.getvalue()


def test_progress_belongs_to_the_step_and_thread_that_read_it(monkeypatch) -> None:
    monkeypatch.setattr(progress, "INTERVAL_S", 0.0)
    seen: list[dict] = []
    lock = threading.Lock()

    def record(event: dict) -> None:
        with lock:
            seen.append(event)

    stop = progress.listen(record)
    try:
        progress.add(5, "people")  # no step open: nothing to report

        def walk(user_id: int) -> None:
            with progress.step(user_id, "fub.people"):
                for _ in range(3):
                    progress.add(100, "people", total=300)

        threads = [threading.Thread(target=walk, args=(u,)) for u in (101, 102)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop()
    for user_id in (101, 102):
        mine = [e["done"] for e in seen if e["user_id"] == user_id]
        assert mine == [100, 200, 300]
    assert all(e["step"] == "fub.people" and e["total"] == 300 for e in seen)
    assert len(seen) == 6


def test_progress_is_sent_at_most_every_interval(monkeypatch) -> None:
    monkeypatch.setattr(progress, "INTERVAL_S", 3600.0)
    seen: list[dict] = []
    stop = progress.listen(seen.append)
    try:
        with progress.step(101, "rezen.transactions"):
            for _ in range(1000):
                progress.add(1, "transactions")
    finally:
        stop()
    assert [e["done"] for e in seen] == [1]  # the first page, then nothing within the hour


def test_a_table_in_a_pipe_is_not_cut_at_80_columns(capsys) -> None:
    from agentsync.commands.output import table

    reason = "Qualia rejected the authorization (401): check the username and password " * 2
    table("onboarding", ["step", "state", "error / reason"], [["qualia.orders", "failed", reason]])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "qualia.orders" in line)
    assert reason.strip() in row and "…" not in out
