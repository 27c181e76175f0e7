"""Type checks before a reZEN record lands in raw: unusable ones are quarantined with a reason.

Per entity, the fields the staging models (``dbt_project/models/staging/rezen/base``) cast or
flatten, as served by the API (camelCase, before dlt renames them): times (ISO-8601 or epoch,
see ``rezen_timestamp``), ``{amount, currency}`` money objects, counts and tiers, the objects dlt
flattens (``lifecycleState``, ``address``, ``payment``) and the lists the source reads
(``teams`` of ``agents/me``, roster ``roles``, a detail's ``participants``). A wrong type would
land in a dlt variant column and reach staging as a silent null, so the record is quarantined
instead (:func:`dlt_pipelines.common.check_types`). New fields are not checked (schema drift).
The UUID ``id`` is checked by the source itself (``valid_id``).
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.common import FieldKind, InvalidRecord, check_types

_DEAL: dict[str, FieldKind] = {
    "code": "text",
    "transactionType": "text",
    "representationType": "text",
    "lifecycleState": "object",
    "lifecycleState.state": "text",
    "address": "object",
    "address.oneLine": "text",
    "address.street": "text",
    "address.street2": "text",
    "address.city": "text",
    "address.state": "text",
    "address.zip": "text",
    "createdAt": "time",
    "updatedAt": "time",
    "closedAt": "time",
    "skySlopeActualClosingDate": "time",
    "rezenClosedAt": "time",
}
_CONTRIBUTION: dict[str, FieldKind] = {
    "contributorYentaId": "text",
    "contributorFirstName": "text",
    "contributorLastName": "text",
    "tier": "integer",
    "transactionId": "text",
    "amount": "money",
    "transactionClosedAt": "time",
    "outgoingPaymentId": "text",
    "status": "text",
}
_PERSON: dict[str, FieldKind] = {"firstName": "text", "lastName": "text", "status": "text"}

FIELDS: dict[str, dict[str, FieldKind]] = {
    # a team as served, with its roster (``agents`` or ``members``) still inside
    "teams": {
        "name": "text",
        "teamType": "text",
        "status": "text",
        "createdAt": "time",
        "agents": "list",
        "members": "list",
    },
    # a roster item as served (roles still a list; the source joins them into text)
    "team_members": {
        "agent": "object",
        "agent.id": "text",
        "agent.firstName": "text",
        "agent.lastName": "text",
        "agent.emailAddress": "text",
        "agent.agentStatus": "text",
        "agent.joinDate": "time",
        "roles": "list",
        "flexRoles": "list",
    },
    "agent": {
        **_PERSON,
        "emailAddress": "text",
        "phoneNumber": "text",
        "agentStatus": "text",
        "joinDate": "time",
        "anniversaryDate": "time",
        "createdAt": "time",
        "sizeOfNetwork": "integer",
        "teams": "list",
        "teams.*": "object",
        "teams.*.teamId": "text",
    },
    "network": {
        **_PERSON,
        "joinDate": "time",
        "sizeOfNetwork": "integer",
        "sponsorId": "text",
        "updatedAt": "time",
        "terminatedAsOf": "time",
    },
    "cap_info": {
        "capYearStart": "time",
        "capYearEnd": "time",
        "capStatus": "text",
        "brokerageCap": "money",
        "brokerageCapPaid": "money",
        "teamCap": "money",
        "teamCapPaid": "money",
    },
    "front_line": {**_PERSON, "joinDate": "time", "sizeOfNetwork": "integer"},
    "sponsors": {**_PERSON, "level": "integer"},
    "transactions": {
        **_DEAL,
        "price": "money",
        "grossCommission": "money",
        "saleCommissionPercent": "number",
        "closingDateEstimated": "time",
    },
    "listings": {
        **_DEAL,
        "listingPrice": "money",
        "listingDate": "time",
        "listingExpirationDate": "time",
    },
    # the transaction detail, checked whole before its participants are split off
    "transaction_details": {
        "updatedAt": "time",
        "grossCommission": "money",
        "lifecycleState": "object",
        "lifecycleState.state": "text",
        "participants": "list",
        "participants.*": "object",
    },
    "participants": {
        "yentaUserId": "text",
        "participantRole": "text",
        "external": "boolean",
        "firstName": "text",
        "lastName": "text",
        "payment": "object",
        "payment.percent": "number",
        "payment.amount": "money",
        "payment.paid": "boolean",
    },
    "equity": {
        "type": "text",
        "amount": "money",
        "sharePrice": "money",
        "shares": "number",
        "purchasedAt": "time",
    },
    "revshare_payments": {
        "amount": "money",
        "paidAt": "time",
        "status": "text",
        "contributionCount": "integer",
    },
    "contributions": _CONTRIBUTION,
    "pending_contributions": _CONTRIBUTION,
    "contributors": {
        "firstName": "text",
        "lastName": "text",
        "tier": "integer",
        "status": "text",
        "contributionCount": "integer",
        "totalContribution": "money",
    },
}


def problem(entity: str, record: Any) -> str | None:
    """Why ``record`` of ``entity`` cannot be loaded (a wrong field type), or None if it can."""
    try:
        check_types(record, FIELDS.get(entity, {}))
    except InvalidRecord as err:
        return str(err)
    return None
