"""Type checks before a Qualia order lands in raw: unusable ones are quarantined with a reason.

The fields the staging model reads and casts, as the GraphQL API serves them, are declared with
their JSON kind beside the raw ``order`` column (:mod:`dlt_pipelines.qualia.columns`): text
(number, status, loan type, references), ``open_date`` / ``close_date`` (ISO-8601),
``purchase_price`` / ``loan_amount`` (numbers), ``cash_only`` (boolean), the ``properties`` list
of address objects and the ``parties`` / ``progress`` objects. A value of another JSON type would
make the staging cast fail or read as null, so the order goes to ``ops.quarantine`` instead.
Nulls are fine; new fields are not checked (drift).
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.checks import FieldKind, InvalidRecord, check_types
from dlt_pipelines.qualia.columns import TABLES

#: the order as served (kept raw as ``order``)
ORDER_FIELDS: dict[str, FieldKind] = TABLES["orders"].column("order").checks()


def problem(order: Any) -> str | None:
    """Why ``order`` cannot be loaded (a wrong field type), or None if it can."""
    try:
        check_types(order, ORDER_FIELDS)
    except InvalidRecord as err:
        return str(err)
    return None
