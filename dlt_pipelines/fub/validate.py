"""Record checks before a FUB record lands in raw: unusable ones are quarantined with a reason.

A record is unusable when we could not key or order it: not an object, no integer ``id``, a
cursor timestamp that is not ISO-8601, a money field that is not a number, a text message
without an integer ``personId``. New fields (schema drift) are *not* a problem: they land in
raw as new columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dlt_pipelines.fub.settings import MONEY_FIELDS, Stream


class InvalidRecord(ValueError):
    """Why a record cannot be loaded (the quarantine reason)."""


def parse_ts(value: Any) -> datetime:
    """An ISO-8601 timestamp (``Z`` or offset) as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(stream: Stream, record: Any) -> tuple[dict[str, Any], datetime | None]:
    """Validate one record; return it (money as Decimal) and its cursor value.

    Raises:
        InvalidRecord: the record cannot be loaded; the message is the reason.
    """
    if not isinstance(record, dict):
        raise InvalidRecord(f"record is a {type(record).__name__}, not an object")
    rid = record.get(stream.id_field)
    if rid is None:
        raise InvalidRecord(f"no {stream.id_field}")
    if not _is_int(rid):
        raise InvalidRecord(f"{stream.id_field} is not an integer: {rid!r}"[:200])
    cursor: datetime | None = None
    if stream.cursor_field and record.get(stream.cursor_field) is not None:
        try:
            cursor = parse_ts(record[stream.cursor_field])
        except ValueError:
            raise InvalidRecord(
                f"{stream.cursor_field} is not an ISO-8601 timestamp: "
                f"{record[stream.cursor_field]!r}"[:200]
            ) from None
    if stream.name == "text_messages" and not _is_int(record.get("personId")):
        raise InvalidRecord(f"personId is not an integer: {record.get('personId')!r}"[:200])
    out = dict(record)
    for name in MONEY_FIELDS.get(stream.name, ()):
        value = out.get(name)
        if value is None or value == "":
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise InvalidRecord(f"{name} is not a number: {value!r}"[:200])
        try:
            out[name] = Decimal(str(value))
        except InvalidOperation:
            raise InvalidRecord(f"{name} is not a number: {value!r}"[:200]) from None
    return out, cursor
