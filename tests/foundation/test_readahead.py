"""``read_ahead``: a page walk in a thread, ahead of the consumer — same items, same order, the
walk's error where it happened, a stop when the consumer stops, the consumer's context."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest

from dlt_pipelines.readahead import read_ahead

STEP: contextvars.ContextVar[str] = contextvars.ContextVar("STEP", default="none")


def test_items_arrive_in_order_and_the_walk_runs_ahead_in_the_consumers_context() -> None:
    produced: list[int] = []
    seen_step: set[str] = set()
    walker: set[str] = set()

    def walk() -> Iterator[int]:
        for i in range(200):
            seen_step.add(STEP.get())
            walker.add(threading.current_thread().name)
            produced.append(i)
            yield i

    STEP.set("fub.people")
    got = []
    items = read_ahead(walk(), depth=10)
    got.append(next(items))
    deadline = time.monotonic() + 10
    while len(produced) < 11 and time.monotonic() < deadline:  # first item taken, 10 waiting
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(produced) in (11, 12)  # ahead by the depth (and the one in hand), no further
    got.extend(items)
    assert got == list(range(200))
    assert seen_step == {"fub.people"}
    assert walker == {"read-ahead"}


def test_the_walks_error_comes_after_the_items_before_it() -> None:
    def walk() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 lost")

    got = []
    with pytest.raises(RuntimeError, match="page 3 lost"):
        for item in read_ahead(walk(), depth=5):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_stops_the_walk() -> None:
    produced: list[int] = []

    def walk() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    items = read_ahead(walk(), depth=3)
    assert next(items) == 0
    items.close()
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 5  # nothing more read once the consumer closed
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_a_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        next(read_ahead(iter([1]), depth=0))
