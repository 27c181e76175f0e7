"""read_ahead: a page walk's next page is fetched while this one is worked on, and nothing about
the walk changes — order, errors, an early stop, progress attribution."""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar

import pytest

from dlt_pipelines.common import read_ahead

WHO: ContextVar[str] = ContextVar("who", default="nobody")


def test_items_arrive_in_order_while_the_next_is_read_ahead() -> None:
    fetched: list[int] = []

    def pages():
        for i in range(5):
            fetched.append(i)
            yield i

    seen = []
    for item in read_ahead(pages(), depth=2):
        time.sleep(0.05)  # working on the item: the producer moves on meanwhile
        seen.append((item, len(fetched)))
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
    assert seen[0][1] >= 2  # the next page was read while the first was worked on


def test_an_error_is_raised_at_the_item_where_it_happened() -> None:
    def pages():
        yield 1
        yield 2
        raise RuntimeError("page 3 refused")

    got = []
    with pytest.raises(RuntimeError, match="page 3 refused"):
        for item in read_ahead(pages()):
            got.append(item)
    assert got == [1, 2]


def test_an_early_stop_stops_the_producer() -> None:
    produced = []

    def pages():
        for i in range(1000):
            produced.append(i)
            yield i

    walk = read_ahead(pages(), depth=2)
    assert next(walk) == 0
    walk.close()
    time.sleep(0.3)
    assert len(produced) <= 4  # the item in hand, the queue, no more
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_the_producer_runs_in_the_consumers_context() -> None:
    token = WHO.set("agent 101: fub.people")
    try:

        def pages():
            yield WHO.get()

        assert list(read_ahead(pages())) == ["agent 101: fub.people"]
    finally:
        WHO.reset(token)
