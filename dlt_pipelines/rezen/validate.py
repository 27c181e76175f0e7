"""Type checks before a reZEN record lands in raw: unusable ones are quarantined with a reason.

Per entity, the fields the staging models cast or flatten, as served by the API (camelCase,
before dlt renames them), are declared with their JSON kind beside their raw columns in
:mod:`dlt_pipelines.rezen.columns`: times (ISO-8601 or epoch, see ``rezen_timestamp``),
``{amount, currency}`` money objects, counts and tiers, the objects dlt flattens
(``lifecycleState``, ``address``, ``payment``) and the lists the source reads (``teams`` of
``agents/me``, roster ``roles``, a detail's ``participants``). A wrong type would land in a dlt
variant column and reach staging as a silent null, so the record is quarantined instead
(:func:`dlt_pipelines.checks.check_types`). New fields are not checked (schema drift).
The UUID ``id`` is checked by the source itself (``valid_id``).
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.checks import FieldKind, InvalidRecord, check_types
from dlt_pipelines.rezen.columns import TABLES

#: entity (as the source names it) -> the raw table it lands in, where they differ
_TABLE_OF = {"participants": "transaction_participants"}

#: entity -> the checks of a record as served (derived from the column declarations)
FIELDS: dict[str, dict[str, FieldKind]] = {
    **{name: table.checks() for name, table in TABLES.items()},
    **{entity: TABLES[table].checks() for entity, table in _TABLE_OF.items()},
}


def problem(entity: str, record: Any) -> str | None:
    """Why ``record`` of ``entity`` cannot be loaded (a wrong field type), or None if it can."""
    try:
        check_types(record, FIELDS.get(entity, {}))
    except InvalidRecord as err:
        return str(err)
    return None
