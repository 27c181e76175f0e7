"""Type checks before a SkySlope record lands in raw: unusable ones are quarantined with a reason.

The fields the staging models (``dbt_project/models/staging/skyslope/base``) read and cast, as the
API serves them: text (statuses, guids, address parts), prices (numbers), dates and datetimes
(ISO-8601 strings), the ``property`` object; and the list row's own fields. SkySlope's documented
quirks are *not* errors and stay raw for staging to clean (skyslope.md §4): ``0001-01-01`` null
dates, datetimes without a timezone, control characters inside text, empty strings. A value of
another JSON type (a number where a date belongs, a string where an object belongs) is: staging
would fail on it or read it as null, so the record goes to ``ops.quarantine`` instead. New
fields are not checked (schema drift).
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.common import FieldKind, InvalidRecord, check_types

USER_FIELDS: dict[str, FieldKind] = {
    "userGuid": "text",
    "firstName": "text",
    "lastName": "text",
    "email": "text",
    "phone": "text",
    "publicId": "text",
    "userType": "text",
}
# the row of ``GET /api/files/{listings|sales}`` (kept raw as ``summary``)
LIST_ROW_FIELDS: dict[str, FieldKind] = {
    "listingGuid": "text",
    "saleGuid": "text",
    "status": "text",
    "propertyAddress": "text",
    "actualClosingDate": "iso_time",
    "escrowClosingDate": "iso_time",
    "modifiedOn": "iso_time",
    "link": "object",
}
_FILE: dict[str, FieldKind] = {
    "agentGuid": "text",
    "status": "text",
    "mlsNumber": "text",
    "property": "object",
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
# the file of ``GET /api/files/{kind}/{guid}`` (kept raw as ``file``), per entity
FILE_FIELDS: dict[str, dict[str, FieldKind]] = {
    "listings": {
        **_FILE,
        "listingGuid": "text",
        "listingDate": "iso_time",
        "expirationDate": "iso_time",
    },
    "sales": {
        **_FILE,
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
}


def problem(record: Any, fields: dict[str, FieldKind]) -> str | None:
    """Why ``record`` cannot be loaded (a wrong field type), or None if it can."""
    try:
        check_types(record, fields)
    except InvalidRecord as err:
        return str(err)
    return None
