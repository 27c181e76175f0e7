"""Shape a validated FUB row for dlt's dict path (``AGENTSYNC_TYPED_LOADS=false``).

dlt's row normaliser (``max_table_nesting=0``) does a nullability check per ``None`` value, and
FUB people carry many: a ``None`` is dropped here — a missing key lands as ``NULL`` exactly like
a ``None`` does, and a column null in every row is not created either way.

Timestamps are left as FUB served them. An earlier version parsed zone-qualified ISO-8601
strings into datetimes here (dlt's fast path for a ``timestamp`` column), but in a column dlt
had typed ``text`` — its first value an empty string, say — such a datetime landed re-written
(``...Z`` as ``...+00:00``, milliseconds dropped) instead of as served. The typed path
(:mod:`dlt_pipelines.typed`) parses timestamps column by column, only for ``timestamp``
columns; the A/B test (``tests/foundation/test_typed_ab.py``, the sandbox's ``edge_values``
fault) found the difference.
"""

from __future__ import annotations

from typing import Any


def prepare(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without its ``None`` values."""
    return {key: value for key, value in row.items() if value is not None}
