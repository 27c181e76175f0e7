"""Shape a validated FUB row so dlt's row normaliser takes its fast path (same raw result).

dlt's normaliser (``max_table_nesting=0``) costs most per row on two things: every ``None``
value (a nullability check per null field, and FUB people carry many) and every ISO-8601 string
that lands in a ``timestamp`` column (parsed again per value through pendulum). A ``None`` is
dropped here — a missing key lands as ``NULL`` exactly like a ``None`` does, and a column null in
every row is not created either way — and an ISO-8601 timestamp string with an offset or ``Z`` is
parsed once here with :func:`datetime.fromisoformat` (C code), so the value already has the
column's type. Custom fields (``custom*``, per-account names whose values vary) are left to dlt
as before, so a text custom field never changes how it is written. What lands in ``raw_fub`` is unchanged: the same columns, types and instants.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

# Full date and time with an explicit zone: what dlt's ``iso_timestamp`` detection types as
# ``timestamp`` (strings without a zone, or dates alone, are left to dlt as before).
CUSTOM_PREFIX = "custom"
_ISO_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def as_timestamp(value: str) -> datetime | str:
    """``value`` as an aware datetime when it is an ISO-8601 timestamp with a zone, else itself."""
    if len(value) < 20 or not _ISO_TS.fullmatch(value):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return value


def prepare(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without ``None`` values and with zone-qualified ISO timestamps as datetimes."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if value.__class__ is str and not key.startswith(CUSTOM_PREFIX):
            value = as_timestamp(value)
        out[key] = value
    return out
