"""The columns of ``raw_skyslope``: each vendor object is kept whole as JSON, declared once with
the fields staging reads inside it (see :mod:`dlt_pipelines.columns` for how the declaration is
used).

A file version lands as ``(user_id, <kind>_guid, modified_on, file, summary)``: ``file`` is the
object of ``GET /api/files/{listings|sales}/{guid}``, ``summary`` the list row that named it,
``modified_on`` the file's ``modifiedOn`` exactly as served (the version the source compares).
A user lands as ``(user_id, user_guid, record)``.

The ``fields`` of a JSON column are the paths staging reads in it, with the JSON kind each must
have before the record lands (:mod:`dlt_pipelines.skyslope.validate`): text (statuses, guids,
address parts), prices (numbers), dates and datetimes (ISO-8601 strings), the ``property``
object. SkySlope's documented quirks are *not* errors and stay raw for staging to clean
(``docs/vendors/skyslope.md`` §4): ``0001-01-01`` null dates, datetimes without a timezone,
control characters inside text, empty strings.
"""

from __future__ import annotations

from dlt_pipelines.checks import FieldKind
from dlt_pipelines.columns import Column, Table

_FILE: dict[str, FieldKind] = {
    "agentGuid": "text",
    "status": "text",
    "mlsNumber": "text",
    "property.streetNumber": "text",
    "property.streetAddress": "text",
    "property.unit": "text",
    "property.city": "text",
    "property.state": "text",
    "property.zip": "text",
    "listingPrice": "number",
    "createdOn": "iso_time",
    "modifiedOn": "iso_time",
}
# the row of ``GET /api/files/{listings|sales}`` (kept raw as ``summary``), checked before the
# file is fetched
_LIST_ROW: dict[str, FieldKind] = {
    "listingGuid": "text",
    "saleGuid": "text",
    "status": "text",
    "propertyAddress": "text",
    "actualClosingDate": "iso_time",
    "escrowClosingDate": "iso_time",
    "modifiedOn": "iso_time",
    "link": "object",
}


def _files(kind: str, fields: dict[str, FieldKind]) -> Table:
    return Table(
        f"{kind}s",
        (
            Column("user_id", "bigint"),
            Column(f"{kind}_guid", "text", f"{kind}Guid"),
            Column("modified_on", "text", "modifiedOn"),
            Column("file", "json", fields={**_FILE, **fields}),
            Column("summary", "json", fields=_LIST_ROW),
        ),
    )


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "users",
            (
                Column("user_id", "bigint"),
                Column("user_guid", "text", "userGuid"),
                Column(
                    "record",
                    "json",
                    fields={
                        "userGuid": "text",
                        "firstName": "text",
                        "lastName": "text",
                        "email": "text",
                        "phone": "text",
                        "publicId": "text",
                        "userType": "text",
                    },
                ),
            ),
        ),
        _files(
            "listing",
            {"listingGuid": "text", "listingDate": "iso_time", "expirationDate": "iso_time"},
        ),
        _files(
            "sale",
            {
                "saleGuid": "text",
                "listingGuid": "text",
                "dealType": "text",
                "escrowNumber": "text",
                "salePrice": "number",
                "contractAcceptanceDate": "iso_time",
                "contractAcceptedDate": "iso_time",
                "escrowClosingDate": "iso_time",
                "actualClosingDate": "iso_time",
                "deadDate": "iso_time",
            },
        ),
    )
}
