"""Shared output helpers: JSON for machines, rich tables for people.

With ``--json`` the JSON object is all that reaches stdout: :func:`json_only_stdout` points the
process's stdout (file descriptor 1, so dbt's, dlt's and Prefect's writes too) at stderr while
the command runs, and :func:`emit_json` writes to the real stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

#: rich's width for a pipe or a file: wide enough that no table cell or line is cut at 80
#: columns (``report…``); a terminal keeps its own width.
PIPE_WIDTH = 10_000


def make_console(stderr: bool = False) -> Console:
    """A console for people: the terminal's width, or in a pipe/file no width limit."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


console = make_console()


_json_out: TextIO | None = None


@contextlib.contextmanager
def json_only_stdout() -> Iterator[None]:
    """While inside: everything written to stdout goes to stderr, except :func:`emit_json`."""
    global _json_out
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    _json_out = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    try:
        yield
    finally:
        sys.stdout.flush()
        _json_out.close()
        _json_out = None
        os.dup2(saved, 1)
        os.close(saved)


def emit_json(data: Any, *, indent: int | None = 2) -> None:
    """Print ``data`` as JSON on stdout (the real one under :func:`json_only_stdout`)."""
    emit_json_text(json.dumps(data, indent=indent, default=str))


def emit_json_text(text: str) -> None:
    """Print already-serialised JSON on stdout (the real one under :func:`json_only_stdout`)."""
    if _json_out is not None:
        _json_out.write(text + "\n")
        _json_out.flush()
    else:
        typer.echo(text)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    console.print(t)
