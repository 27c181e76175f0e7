"""The columns of ``raw_rezen``: what staging reads from each table, declared once (see
:mod:`dlt_pipelines.columns` for how the declaration is used).

dlt flattens reZEN's objects (``address.city`` → ``address__city``, ``lifecycleState.state`` →
``lifecycle_state__state``); money objects ``{amount, currency}`` become ``<field>__amount``
(exact ``decimal``) and ``<field>__currency``. Times come in several encodings
(``docs/vendors/rezen.md`` §4): a field served as epoch milliseconds is a ``bigint`` column, one
served as ISO text a ``text`` column, as dlt typed them from the API; staging reads either
(``rezen_timestamp`` / ``rezen_date``). A time field no response has carried yet is ``text``,
which takes every encoding. Lists that vary in shape stay JSON (``teams`` of ``agents/me``,
``flexRoles``); roster ``roles`` are joined into one text by the source.

The ``kind`` of a column is the JSON type its API field must have before the record lands
(:mod:`dlt_pipelines.rezen.validate`); ``time`` takes ISO text or an epoch. The UUID ``id`` is
checked by the source itself (``valid_id``). Columns without a ``field`` are set by the source.
"""

from __future__ import annotations

from dlt_pipelines.columns import Column, Table

_USER = Column("user_id", "bigint")


def _id(field: str | None = "id") -> Column:
    return Column("id", "text", field)


def _text(name: str, field: str, checked: bool = True) -> Column:
    return Column(name, "text", field, kind="text" if checked else None)


def _time(name: str, field: str, data_type: str = "bigint") -> Column:
    return Column(name, data_type, field, kind="time")  # type: ignore[arg-type]


def _int(name: str, field: str) -> Column:
    return Column(name, "bigint", field, kind="integer")


def _amount(prefix: str, field: str, currency: bool = True) -> tuple[Column, ...]:
    """The columns of a money object ``{amount, currency}`` (currency only where read)."""
    amount = Column(f"{prefix}__amount", "decimal", f"{field}.amount", kind="number")
    if not currency:
        return (amount,)
    return amount, Column(f"{prefix}__currency", "text", f"{field}.currency", kind="text")


def _person(status: str = "status") -> tuple[Column, ...]:
    return (
        _text("first_name", "firstName"),
        _text("last_name", "lastName"),
        _text(status, "status"),
    )


_ADDRESS = (
    _text("address__one_line", "address.oneLine"),
    _text("address__street", "address.street"),
    _text("address__street2", "address.street2"),
    _text("address__city", "address.city"),
    _text("address__state", "address.state"),
    _text("address__zip", "address.zip"),
)
_DEAL = (
    _USER,
    _id(),
    _text("code", "code"),
    _text("representation_type", "representationType"),
    Column("lifecycle_group", "text"),  # the list it was read from (OPEN, CLOSED, TERMINATED)
    _text("lifecycle_state__state", "lifecycleState.state"),
    *_ADDRESS,
    _time("created_at", "createdAt"),
    _time("updated_at", "updatedAt"),
    _time("closed_at", "closedAt"),
)
_CONTRIBUTION = (
    _USER,
    _id(),
    _text("contributor_yenta_id", "contributorYentaId"),
    _text("contributor_first_name", "contributorFirstName"),
    _text("contributor_last_name", "contributorLastName"),
    _int("tier", "tier"),
    _text("transaction_id", "transactionId"),
    *_amount("amount", "amount"),
    _time("transaction_closed_at", "transactionClosedAt"),
    # pending contributions carry no payment yet: declared so the column exists anyway
    _text("outgoing_payment_id", "outgoingPaymentId"),
    _text("status", "status"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "teams",
            (
                _USER,
                _id(),
                _text("name", "name"),
                _text("team_type", "teamType"),
                _text("status", "status"),
                _time("created_at", "createdAt"),
            ),
            # the roster, split off by the source into team_members
            source_checks={"agents": "list", "members": "list"},
        ),
        Table(
            "team_members",
            (
                _USER,
                _id(None),  # the roster item's own id, else its agent's
                Column("team_id", "text"),
                _text("agent__id", "agent.id"),
                _text("agent__first_name", "agent.firstName"),
                _text("agent__last_name", "agent.lastName"),
                _text("agent__email_address", "agent.emailAddress"),
                _text("agent__agent_status", "agent.agentStatus"),
                _time("agent__join_date", "agent.joinDate", "text"),
                Column("roles", "text", "roles", kind="list"),  # joined with commas
                Column("flex_roles", "json", "flexRoles", kind="list"),
            ),
        ),
        Table(
            "agent",
            (
                _USER,
                _id(),
                *_person(),
                _text("email_address", "emailAddress"),
                _text("phone_number", "phoneNumber"),
                _text("agent_status", "agentStatus"),
                _time("join_date", "joinDate", "text"),
                _time("anniversary_date", "anniversaryDate", "text"),
                _time("created_at", "createdAt"),
                _int("size_of_network", "sizeOfNetwork"),
                # the teams step reads the agent's teams from here
                Column(
                    "teams",
                    "json",
                    "teams",
                    kind="list",
                    fields={"*": "object", "*.teamId": "text"},
                ),
            ),
        ),
        Table(
            "network",
            (
                _USER,
                _id(),
                *_person(),
                Column("tier", "bigint"),  # the down-line tier it was read from (1-5)
                _text("sponsor_id", "sponsorId"),
                _time("join_date", "joinDate", "text"),
                _time("terminated_as_of", "terminatedAsOf", "text"),
                _int("size_of_network", "sizeOfNetwork"),
                _time("updated_at", "updatedAt"),
            ),
        ),
        Table(
            "cap_info",
            (
                _USER,
                _id(None),  # the agent's id (agentId, else the agent read)
                _time("cap_year_start", "capYearStart", "text"),
                _time("cap_year_end", "capYearEnd", "text"),
                _text("cap_status", "capStatus"),
                *_amount("brokerage_cap", "brokerageCap"),
                *_amount("brokerage_cap_paid", "brokerageCapPaid", currency=False),
                *_amount("team_cap", "teamCap", currency=False),
                *_amount("team_cap_paid", "teamCapPaid", currency=False),
            ),
        ),
        Table(
            "front_line",
            (
                _USER,
                _id(),
                *_person(),
                _text("sponsor_id", "sponsorId", checked=False),
                _time("join_date", "joinDate", "text"),
                _int("size_of_network", "sizeOfNetwork"),
            ),
        ),
        Table(
            "sponsors",
            (
                _USER,
                _id(),
                _text("agent_id", "agentId", checked=False),
                *_person(),
                _int("level", "level"),
            ),
        ),
        Table(
            "transactions",
            (
                *_DEAL,
                _text("transaction_type", "transactionType"),
                _time("rezen_closed_at", "rezenClosedAt"),
                # not served by any response seen yet: text takes every encoding
                _time("sky_slope_actual_closing_date", "skySlopeActualClosingDate", "text"),
                _time("closing_date_estimated", "closingDateEstimated", "text"),
                *_amount("price", "price"),
                *_amount("gross_commission", "grossCommission"),
                Column(
                    "sale_commission_percent", "decimal", "saleCommissionPercent", kind="number"
                ),
            ),
        ),
        Table(
            "listings",
            (
                *_DEAL,
                *_amount("listing_price", "listingPrice"),
                _time("listing_date", "listingDate", "text"),
                _time("listing_expiration_date", "listingExpirationDate", "text"),
            ),
        ),
        Table(
            "transaction_details",
            (
                _USER,
                _id(),
                _time("updated_at", "updatedAt"),
                *_amount("gross_commission", "grossCommission"),
                _text("lifecycle_state__state", "lifecycleState.state"),
            ),
            # the participants, split off by the source into transaction_participants
            source_checks={"participants": "list", "participants.*": "object"},
        ),
        Table(
            "transaction_participants",
            (
                _USER,
                _id(),
                Column("transaction_id", "text"),  # the detail it came from
                Column("transaction_updated_at", "bigint"),  # that detail's updatedAt
                _text("yenta_user_id", "yentaUserId"),
                _text("participant_role", "participantRole"),
                Column("external", "bool", "external", kind="boolean"),
                _text("first_name", "firstName"),
                _text("last_name", "lastName"),
                Column("payment__percent", "decimal", "payment.percent", kind="number"),
                *_amount("payment__amount", "payment.amount"),
                Column("payment__paid", "bool", "payment.paid", kind="boolean"),
            ),
        ),
        Table(
            "equity",
            (
                _USER,
                _id(),
                _text("type", "type"),
                *_amount("amount", "amount"),
                *_amount("share_price", "sharePrice", currency=False),
                Column("shares", "decimal", "shares", kind="number"),
                _time("purchased_at", "purchasedAt"),
            ),
        ),
        Table(
            "revshare_payments",
            (
                _USER,
                _id(),
                *_amount("amount", "amount"),
                _time("paid_at", "paidAt"),
                _text("status", "status"),
                _int("contribution_count", "contributionCount"),
            ),
        ),
        Table("contributions", _CONTRIBUTION),
        Table("pending_contributions", _CONTRIBUTION),
        Table(
            "contributors",
            (
                _USER,
                _id(None),  # the contributor's agentYentaId
                *_person(),
                _int("tier", "tier"),
                _int("contribution_count", "contributionCount"),
                *_amount("total_contribution", "totalContribution"),
            ),
        ),
    )
}
