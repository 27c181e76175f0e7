"""Record checks before a FUB record lands in raw: unusable ones are quarantined with a reason.

A record is unusable when we could not key or order it: not an object, no integer ``id``, a
cursor timestamp that is not ISO-8601, or a field declared with a ``kind`` in
:mod:`dlt_pipelines.fub.columns` that has another JSON type or is missing though required (a
money field that is not a number, a text message without an integer ``personId``). New fields
(schema drift) are *not* a problem: they land in raw as new columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dlt_pipelines.checks import InvalidRecord as _CheckFailed
from dlt_pipelines.checks import check_types
from dlt_pipelines.fub.columns import TABLES
from dlt_pipelines.fub.settings import Stream


class InvalidRecord(ValueError):
    """Why a record cannot be loaded (the quarantine reason)."""


# per stream, from the declarations once (not per record: a person has ~30 checked fields)
_CHECKS = {name: table.checks() for name, table in TABLES.items()}
_REQUIRED = {
    name: tuple(
        (c.field, "an integer" if c.data_type == "bigint" else "set")
        for c in table.columns
        if c.required and c.field
    )
    for name, table in TABLES.items()
}
_MONEY = {
    name: tuple(c.field for c in table.columns if c.data_type == "decimal" and c.field)
    for name, table in TABLES.items()
}


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
    for field, what in _REQUIRED[stream.name]:
        if record.get(field) is None:
            raise InvalidRecord(f"{field} is not {what}: None")
    try:
        check_types(record, _CHECKS[stream.name])
    except _CheckFailed as err:
        raise InvalidRecord(str(err)) from None
    out = dict(record)
    for field in _MONEY[stream.name]:
        value = out.get(field)
        if value is None or value == "":
            out[field] = None
        elif field in out:
            try:
                out[field] = Decimal(str(value))
            except InvalidOperation:
                raise InvalidRecord(f"{field} is not a number: {value!r}"[:200]) from None
    return out, cursor
