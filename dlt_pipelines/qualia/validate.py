"""Type checks before a Qualia order lands in raw: unusable ones are quarantined with a reason.

The fields ``dbt_project/models/staging/qualia/base/base_qualia__orders.sql`` reads and casts, as
the GraphQL API serves them: text (number, status, loan type, references), ``open_date`` /
``close_date`` (ISO-8601), ``purchase_price`` / ``loan_amount`` (numbers), ``cash_only``
(boolean), the ``properties`` list of address objects and the ``parties`` / ``progress``
objects. A value of another JSON type would make the staging cast fail or read as null, so the
order goes to ``ops.quarantine`` instead. Nulls are fine; new fields are not checked (drift).
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.common import FieldKind, InvalidRecord, check_types

ORDER_FIELDS: dict[str, FieldKind] = {
    "_id": "text",
    "order_number": "text",
    "status": "text",
    "open_date": "iso_time",
    "close_date": "iso_time",
    "purchase_price": "number",
    "loan_amount": "number",
    "loan_type": "text",
    "cash_only": "boolean",
    "external_reference_number": "text",
    "settlement_agency_name": "text",
    "properties": "list",
    "properties.*": "object",
    "properties.*.address_line_1": "text",
    "properties.*.address_line_2": "text",
    "properties.*.city": "text",
    "properties.*.state": "text",
    "properties.*.zipcode": "text",
    "parties": "object",
    "progress": "object",
    "progress.current_stage": "text",
    "progress.current_stage_key": "text",
}


def problem(order: Any) -> str | None:
    """Why ``order`` cannot be loaded (a wrong field type), or None if it can."""
    try:
        check_types(order, ORDER_FIELDS)
    except InvalidRecord as err:
        return str(err)
    return None
