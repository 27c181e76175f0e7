"""Which sources exist, in the order the flows run them, and every entity each of them loads.

An entity declaration (:class:`~agentsync.contracts.EntitySpec`) is pure data about the
warehouse: the raw table a source appends to, the mart dbt builds from it, their id columns,
the freshness column and the flags that exclude rows from the live count. The loaders
(``dlt_pipelines``) and the checks (``agentsync.quality``: reconciliation, health, the gate's
suites) both read it, and they are sibling layers that may not import each other; so the
declarations live here, in the core, where both can read the same list. The alternative, every
caller (flows, CLI, tests) passing the specs down into each quality function, would thread a
parameter through every check for a list that never varies at run time. The sources' steps
(code that loads) stay with the sources: :mod:`dlt_pipelines.registry`.

Adding an entity: declare it here, then run ``agentsync quality-build`` and commit
``expectations/`` (the gate's suites follow this list).
"""

from __future__ import annotations

from agentsync.contracts import EntitySpec

# reZEN first (its agents are what transaction participants point at), then the rest.
SOURCES: tuple[str, ...] = ("rezen", "fub", "skyslope", "qualia")


def _entity(
    source: str,
    entity: str,
    *,
    mart: str | None,
    mart_id: str,
    raw: str | None = None,
    raw_id: str = "id",
    fresh: str | None = None,
    excluded: dict[str, str] | None = None,
) -> EntitySpec:
    """One declaration; the raw table is ``raw_<source>.<raw or entity>``."""
    return EntitySpec(
        source=source,
        entity=entity,
        raw_table=f"raw_{source}.{raw or entity}",
        raw_id_column=raw_id,
        mart=mart,
        mart_id_column=mart_id,
        freshness_column=fresh,
        excluded_flag_columns=excluded or {},
    )


_DELETED = {"deleted": "is_deleted"}

# -- Follow Up Boss --------------------------------------------------------------------------------

FUB: list[EntitySpec] = [
    _entity(
        "fub",
        "people",
        mart="marts.people",
        mart_id="person_id",
        fresh="updated_at",
        excluded={"deleted": "is_deleted", "trashed": "is_trashed"},
    ),
    _entity(
        "fub", "deals", mart="marts.deals", mart_id="deal_id", fresh="created_at", excluded=_DELETED
    ),
    _entity(
        "fub",
        "events",
        mart="marts.events",
        mart_id="event_id",
        fresh="created_at",
        excluded=_DELETED,
    ),
    _entity(
        "fub", "calls", mart="marts.calls", mart_id="call_id", fresh="updated_at", excluded=_DELETED
    ),
    _entity(
        "fub",
        "appointments",
        mart="marts.appointments",
        mart_id="appointment_id",
        fresh="updated_at",
        excluded=_DELETED,
    ),
    _entity(
        "fub",
        "text_messages",
        mart="marts.text_messages",
        mart_id="text_message_id",
        fresh="updated_at",
        excluded=_DELETED,
    ),
    # Users, like stages/pipelines/groups, are reference data that can go months unchanged: their
    # freshness is the last successful sync, not the age of the newest record.
    _entity("fub", "users", mart="marts.fub_users", mart_id="fub_user_id"),
    _entity("fub", "stages", mart="marts.stages", mart_id="stage_id"),
    _entity("fub", "pipelines", mart="marts.pipelines", mart_id="pipeline_id"),
    _entity("fub", "groups", mart="marts.groups", mart_id="group_id"),
]

# -- reZEN -----------------------------------------------------------------------------------------

REZEN: list[EntitySpec] = [
    # The agent record, teams and cap info are read whole and land only when they change:
    # like FUB's reference data, their freshness is the last successful sync (the sync-age
    # check), not the age of the newest record.
    _entity("rezen", "teams", mart="marts.teams", mart_id="team_id"),
    _entity(
        "rezen", "team_members", mart="marts.team_roster", mart_id="agent_id", raw_id="agent__id"
    ),
    _entity("rezen", "agent", mart="marts.agents", mart_id="agent_id"),
    _entity("rezen", "network", mart="marts.network", mart_id="agent_id", fresh="updated_at"),
    _entity("rezen", "cap_info", mart="marts.agent_cap", mart_id="agent_id"),
    _entity("rezen", "front_line", mart=None, mart_id="agent_id"),
    _entity("rezen", "sponsors", mart=None, mart_id="sponsor_id"),
    _entity(
        "rezen",
        "transactions",
        mart="marts.rezen_transactions",
        mart_id="transaction_id",
        fresh="updated_at",
    ),
    _entity(
        "rezen", "listings", mart="marts.rezen_listings", mart_id="listing_id", fresh="updated_at"
    ),
    _entity(
        "rezen",
        "participants",
        mart="marts.transaction_participants",
        mart_id="participant_id",
        raw="transaction_participants",
    ),
    _entity("rezen", "equity", mart="marts.equity", mart_id="equity_id", fresh="purchased_at"),
    _entity(
        "rezen",
        "revshare_payments",
        mart="marts.revshare_payments",
        mart_id="payment_id",
        fresh="paid_at",
    ),
    # marts.contributions holds paid and pending rows; pending ones are flagged is_pending.
    _entity(
        "rezen",
        "contributions",
        mart="marts.contributions",
        mart_id="contribution_id",
        fresh="transaction_closed_at",
        excluded={"pending": "is_pending"},
    ),
    # The pending list is a snapshot (the newest load is current), merged into
    # marts.contributions with is_pending = true; no mart of its own.
    _entity("rezen", "pending_contributions", mart=None, mart_id="contribution_id"),
    _entity("rezen", "contributors", mart="marts.contributors", mart_id="contributor_id"),
]

# -- SkySlope --------------------------------------------------------------------------------------

SKYSLOPE: list[EntitySpec] = [
    _entity(
        "skyslope", "users", mart="marts.skyslope_users", mart_id="user_guid", raw_id="user_guid"
    ),
    _entity(
        "skyslope",
        "listings",
        mart="marts.skyslope_listings",
        mart_id="listing_guid",
        raw_id="listing_guid",
        fresh="modified_at",
    ),
    _entity(
        "skyslope",
        "sales",
        mart="marts.skyslope_sales",
        mart_id="sale_guid",
        raw_id="sale_guid",
        fresh="modified_at",
    ),
]

# -- Qualia ----------------------------------------------------------------------------------------

QUALIA: list[EntitySpec] = [
    _entity(
        "qualia",
        "orders",
        mart="marts.title_orders",
        mart_id="order_id",
        raw_id="order_id",
        fresh="opened_at",
    ),
]

_BY_SOURCE: dict[str, list[EntitySpec]] = {
    "rezen": REZEN,
    "fub": FUB,
    "skyslope": SKYSLOPE,
    "qualia": QUALIA,
}
assert set(_BY_SOURCE) == set(SOURCES)
assert all(e.source == source for source, specs in _BY_SOURCE.items() for e in specs)


def all_entities(sources: tuple[str, ...] | list[str] | None = None) -> list[EntitySpec]:
    """Every entity of these sources (default: all, in :data:`SOURCES` order); a name that is
    not a source has none."""
    out: list[EntitySpec] = []
    for source in sources or SOURCES:
        out.extend(_BY_SOURCE.get(source, ()))
    return out
