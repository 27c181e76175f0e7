"""The CLI's console log: one line per record, tracebacks only with ``--verbose``.

A command that fails a step (a refused vendor key, a page that came back short) says why in its
own output and exit code; Prefect's task engine and agentsync's ``log.exception`` calls would
also print the traceback to the terminal. Those tracebacks stay where operators look for them
later (the run's log in the Prefect API, which handles each record before the console does);
on the console the record keeps its first line.
"""

from __future__ import annotations

import logging

_TRACEBACK = "\nTraceback (most recent call last):"
_hiding = False


class _FirstLine(logging.Filter):
    """Drops a record's traceback (``exc_info``, stack, an embedded ``Traceback ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if isinstance(record.msg, str) and _TRACEBACK in record.msg:
            record.msg = record.msg.split(_TRACEBACK)[0]
        return True


def hide_tracebacks() -> None:
    """From now on (and for handlers added later: call :func:`apply` again), console handlers
    print no tracebacks."""
    global _hiding
    _hiding = True
    apply()


def apply() -> None:
    """Put the filter on every console handler that exists now (once per handler)."""
    if not _hiding:
        return
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            console = type(handler).__name__ == "PrefectConsoleHandler" or (
                type(handler) is logging.StreamHandler
            )
            if console and not any(isinstance(f, _FirstLine) for f in handler.filters):
                handler.addFilter(_FirstLine())
