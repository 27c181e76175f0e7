"""Type checks before a SkySlope record lands in raw: unusable ones are quarantined with a reason.

The fields the staging models read and cast, as the API serves them, are declared with their JSON
kind beside their raw columns (:mod:`dlt_pipelines.skyslope.columns`): text (statuses, guids,
address parts), prices (numbers), dates and datetimes (ISO-8601 strings), the ``property``
object; and the list row's own fields. SkySlope's documented quirks are *not* errors and stay raw
for staging to clean (skyslope.md §4): ``0001-01-01`` null dates, datetimes without a timezone,
control characters inside text, empty strings. A value of another JSON type (a number where a
date belongs, a string where an object belongs) is: staging would fail on it or read it as null,
so the record goes to ``ops.quarantine`` instead. New fields are not checked (schema drift).
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.checks import FieldKind, InvalidRecord, check_types
from dlt_pipelines.skyslope.columns import TABLES

#: the user object (kept raw as ``record``)
USER_FIELDS: dict[str, FieldKind] = TABLES["users"].column("record").checks()
#: the row of ``GET /api/files/{listings|sales}`` (kept raw as ``summary``)
LIST_ROW_FIELDS: dict[str, FieldKind] = TABLES["sales"].column("summary").checks()
#: the file of ``GET /api/files/{kind}/{guid}`` (kept raw as ``file``), per entity
FILE_FIELDS: dict[str, dict[str, FieldKind]] = {
    entity: TABLES[entity].column("file").checks() for entity in ("listings", "sales")
}


def problem(record: Any, fields: dict[str, FieldKind]) -> str | None:
    """Why ``record`` cannot be loaded (a wrong field type), or None if it can."""
    try:
        check_types(record, fields)
    except InvalidRecord as err:
        return str(err)
    return None
