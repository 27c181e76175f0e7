"""Record type checks: whether a record as the API served it has the JSON types staging relies on.

Each source's ``validate.py`` checks its records with :func:`check_types` before they land; the
fields and their kinds come from the column declarations (``<source>/columns.py``, see
:mod:`dlt_pipelines.columns`). A record that fails is quarantined with the reason
(:class:`InvalidRecord`'s message names the field and the bad value); the run goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

FieldKind = Literal[
    "text", "number", "integer", "boolean", "time", "iso_time", "money", "object", "list"
]
"""What a field must hold (``None`` is always allowed: a missing value is not a wrong type).

- ``text``: a JSON string.
- ``number``: a JSON number, or a string that parses as a finite decimal.
- ``integer``: a JSON integer, or a string of digits.
- ``boolean``: ``true``/``false``.
- ``time``: an ISO-8601 date/datetime string, or an epoch integer (seconds or milliseconds)
  of at least ``10**8`` (1973): smaller integers are not a real time.
- ``iso_time``: an ISO-8601 date/datetime string only (naive and ``0001-01-01`` included).
- ``money``: an object whose ``amount`` is a ``number`` and ``currency`` is ``text``.
- ``object`` / ``list``: a JSON object / array.

A blank string counts as null for the ``number``, ``integer`` and time kinds (staging turns it
into null).
"""
_KIND_NAMES: dict[str, str] = {
    "text": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "time": "an ISO-8601 time or epoch",
    "iso_time": "an ISO-8601 time",
    "money": "an {amount, currency} object",
    "object": "an object",
    "list": "a list",
}
_MIN_EPOCH = 10**8
_VALUE_CHARS = 60


class InvalidRecord(ValueError):
    """Why a record cannot be loaded (the quarantine reason)."""


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, Decimal):  # clients that parse JSON numbers exactly
        return value.is_finite()
    if isinstance(value, str):
        with contextlib.suppress(ValueError, ArithmeticError):
            return Decimal(value.strip()).is_finite()
    return False


def _is_iso_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _fits(kind: FieldKind, value: Any) -> bool:
    """Whether a non-null ``value`` has the JSON type ``kind`` asks for."""
    if kind == "text":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "money":
        return (
            isinstance(value, dict)
            and (value.get("amount") is None or _is_number(value["amount"]))
            and (value.get("currency") is None or isinstance(value["currency"], str))
        )
    if _blank(value):
        return True
    if kind == "number":
        return _is_number(value)
    if kind == "integer":
        if isinstance(value, str):
            return value.strip().lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "time" and isinstance(value, int) and not isinstance(value, bool):
        return value >= _MIN_EPOCH
    if kind in ("time", "iso_time"):
        return _is_iso_time(value)
    raise ValueError(f"unknown field kind {kind!r}")


def _values(record: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(concrete path, value)`` for a dotted ``path``; ``*`` walks every list item.

    Parents that are null, missing or of another type yield nothing (their own check reports
    a wrong type).
    """
    nodes: list[tuple[str, Any]] = [("", record)]
    for part in path.split("."):
        nxt: list[tuple[str, Any]] = []
        for where, node in nodes:
            if part == "*":
                if isinstance(node, list):
                    nxt.extend((f"{where}[{i}]", item) for i, item in enumerate(node))
            elif isinstance(node, dict) and part in node:
                nxt.append((f"{where}.{part}" if where else part, node[part]))
        nodes = nxt
    return iter(nodes)


def check_types(record: Any, fields: dict[str, FieldKind]) -> None:
    """Check the JSON types of the fields a record's staging model relies on.

    Args:
        record: the record as the API served it.
        fields: dotted path (``*`` for every list item, e.g. ``properties.*.city``) → the kind
            the value must have. Nulls and missing fields pass; fields not named here (new
            vendor fields: schema drift) are not checked.

    Raises:
        InvalidRecord: the record is not an object, or a field has the wrong type; the message
            names the field and the bad value (truncated) and is the quarantine reason.
    """
    if not isinstance(record, dict):
        raise InvalidRecord(f"record is a {type(record).__name__}, not an object")
    top, nested = _plan(fields)
    for path, kind in top:  # a field of the record itself: one lookup (most checks)
        value = record.get(path)
        if value is not None and not _fits(kind, value):
            _wrong(path, kind, value)
    for path, kind in nested:
        for where, value in _values(record, path):
            if value is not None and not _fits(kind, value):
                _wrong(where, kind, value)


_PLANS: dict[int, tuple[dict[str, FieldKind], Any]] = {}


def _plan(
    fields: dict[str, FieldKind],
) -> tuple[list[tuple[str, FieldKind]], list[tuple[str, FieldKind]]]:
    """``fields`` split into top-level fields and dotted paths (once per checks dict: the
    sources' are module constants, checked for every record)."""
    hit = _PLANS.get(id(fields))
    if hit is not None and hit[0] is fields:
        return hit[1]  # type: ignore[no-any-return]
    top = [(p, k) for p, k in fields.items() if "." not in p and p != "*"]
    nested = [(p, k) for p, k in fields.items() if "." in p or p == "*"]
    if len(_PLANS) > 1000:
        _PLANS.clear()
    _PLANS[id(fields)] = (fields, (top, nested))
    return top, nested


def _wrong(where: str, kind: FieldKind, value: Any) -> None:
    shown = repr(value)
    if len(shown) > _VALUE_CHARS:
        shown = shown[: _VALUE_CHARS - 3] + "..."
    raise InvalidRecord(f"{where} is not {_KIND_NAMES[kind]}: {shown}")
