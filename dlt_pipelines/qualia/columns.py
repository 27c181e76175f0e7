"""The columns of ``raw_qualia``: an order is kept whole as JSON, declared once with the fields
staging reads inside it (see :mod:`dlt_pipelines.columns` for how the declaration is used).

An order lands as ``(user_id, order_id, list_offset, order)``; ``order`` is the object the
GraphQL ``orders`` query serves. Its ``fields`` are the paths staging reads, with the JSON kind
each must have before the order lands (:mod:`dlt_pipelines.qualia.validate`): text (number,
status, loan type, references), ``open_date`` / ``close_date`` (ISO-8601), ``purchase_price`` /
``loan_amount`` (numbers), ``cash_only`` (boolean), the ``properties`` list of address objects
and the ``parties`` / ``progress`` objects.
"""

from __future__ import annotations

from dlt_pipelines.columns import Column, Table

TABLES: dict[str, Table] = {
    "orders": Table(
        "orders",
        (
            Column("user_id", "bigint"),
            Column("order_id", "text", "_id"),
            Column("list_offset", "bigint"),  # its position in the orders list when read
            Column(
                "order",
                "json",
                fields={
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
                    "properties.*.address_line_1": "text",
                    "properties.*.address_line_2": "text",
                    "properties.*.city": "text",
                    "properties.*.state": "text",
                    "properties.*.zipcode": "text",
                    "parties": "object",
                    "progress.current_stage": "text",
                    "progress.current_stage_key": "text",
                },
            ),
        ),
    )
}
