"""A page walk that fetches ahead while the consumer works on the pages it has.

An extract waits for a page (the API's own work, on another machine or process), then checks and
converts the rows; done in turn, the two add up. With the walk in a thread that keeps up to
``depth`` pages ahead, the API's work overlaps ours: the walking thread spends most of its time
waiting on the socket, which releases the GIL.

``depth`` must cover what the consumer does in one go. The typed path gathers 5,000 rows (50 FUB
pages) before it converts them into one Arrow table; a walk only two pages ahead stopped for the
whole conversion, and its HTTP steps queued for the GIL behind it, so the extract was slower
than without the thread. Measured (``bench/results.md``, "FUB people extract: conversion and
read-ahead"): 200,000 people, rate limit off, extract / bare walk of the same pages 0.70-0.74
without the thread, 0.84-0.86 with 60 pages ahead.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterable, Iterator
from queue import Empty, Full, Queue
from typing import Any, TypeVar

T = TypeVar("T")


def read_ahead(items: Iterable[T], depth: int) -> Iterator[T]:
    """``items``, produced by a thread that reads up to ``depth`` ahead of the consumer.

    Items arrive in order. An exception of the producer is raised to the consumer after the
    items produced before it. When the consumer stops early (``close()``, an exception of its
    own), the producer stops at its next item. The producer runs in a copy of the consumer's
    context (progress it reports is counted for the step that reads).
    """
    if depth < 1:
        raise ValueError(f"read_ahead: depth must be at least 1, not {depth}")
    done = object()
    queue: Queue[tuple[Any, BaseException | None]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any, err: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                queue.put((item, err), timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as err:  # handed to the consumer
            put(done, err)
            return
        put(done)

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(produce,), name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, err = queue.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        try:  # a producer waiting to put sees the stop within 0.1 s
            while True:
                queue.get_nowait()
        except Empty:
            pass
        thread.join(timeout=60)
