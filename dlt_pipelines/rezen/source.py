"""The reZEN dlt source: per-agent loads of every stream into ``raw_rezen`` (append-only).

One run of a step = one dlt load of that step's entities for one agent (pipeline
``rezen_user_<user_id>``, schema ``rezen``; how it runs and is booked: :mod:`dlt_pipelines.run`,
the steps: :mod:`dlt_pipelines.rezen`). Every raw
row carries ``user_id``; money stays exact (``{amount, currency}`` → ``<field>__amount`` numeric +
``<field>__currency``, never float); ``lifecycleState``/``address`` objects are flattened by dlt
(``lifecycle_state__state``, ``address__city``...); lists that vary in shape (``teams`` on the
agent, ``flexRoles`` on roster items) are JSON columns, roster ``roles`` one text. The columns
staging reads are declared per raw table in :mod:`dlt_pipelines.rezen.columns` (dlt hints and the
type checks of :mod:`dlt_pipelines.rezen.validate`). Participants are written by the source as
their own rows (``transaction_participants``), not as a dlt child table. reZEN rows take dlt's row
normaliser (``INSERT``), not the typed path of FUB, SkySlope and Qualia: dlt flattens their nested
objects into ``a__b`` columns, which :mod:`dlt_pipelines.typed` does not re-implement, and their
volume is small beside FUB's (a detail request per transaction bounds this source, not the load).

Per stream (facts: ``docs/vendors/rezen.md``; A.n below is §n of that file):

=====================  =====================================================  ===================
entity (raw table)     endpoint                                               mode
=====================  =====================================================  ===================
teams, team_members    yenta ``agents/me`` → ``teams/{id}`` (A.6.1, A.6.2)     full refresh, dedup
                                                                              in dbt
agent (``agent``)      yenta ``agents/me``                                    full refresh
network                yenta ``agents/{id}/down-line/{1..5}`` with every      incremental:
                       ``statusIn`` (A.6.3: default is ACTIVE only)           ``updatedAtFrom`` =
                                                                              newest seen - 3 days
cap_info               yenta ``agents/{id}/cap-info`` (A.6.7, shape unconf.)  full refresh
front_line             yenta ``agents/{id}/front-line-agents-info``           full refresh
sponsors               yenta ``agents/{id}/sponsor-tree`` (flattenedSponsors) full refresh
transactions,          arrakis ``transactions/participant/{id}/transactions|  incremental by sort:
listings               listing-transactions/{OPEN|CLOSED|TERMINATED}``        ``UPDATED_AT DESC``,
                       (A.6.4/A.6.5; ``updatedAtFrom`` is unconfirmed there)  stop below the
                                                                              group's cursor
participants           arrakis ``transactions/{id}`` detail for every         incremental: only
(+ transaction_        transaction whose newest listed ``updatedAt`` has no   transactions changed
details)               detail yet                                             since their detail
equity                 yenta ``agents/{id}/equity-purchases`` (A.6.8: no      full refresh
                       endpoint known; the sandbox's choice)
revshare_payments      arrakis ``revshares/{id}/payments`` (A.6.6)            full refresh
contributions          arrakis ``revshares/{id}/contributions/{tier}``        incremental:
                                                                              ``startDate`` =
                                                                              newest - 30 days
pending_contributions  arrakis ``revshares/{id}/payments/pending``            full refresh
                                                                              (a snapshot)
contributors           arrakis ``revshares/{id}/contributors/{tier}`` with    full refresh
                       the required ``startDate``/``endDate`` (all time)      (a snapshot)
=====================  =====================================================  ===================

The look-back windows (network, contributions, and the records at each deal list's cursor
instant) re-read records the last run landed; a record re-read exactly as landed (same content
hash, kept in the resource state by :class:`~dlt_pipelines.landed.LandedVersions`) is not
landed again, since their marts keep the newest version per id. The lists read in full
("full refresh" above: the agent record, teams and rosters, cap info, front line, sponsors,
equity, payments, pending contributions, contributors) are the agent's current snapshot, which
their marts take from the newest load as the whole list; each lands whole when it differs from
the list last landed in any row, and not at all when it is the same
(:class:`~dlt_pipelines.landed.LandedSnapshot`), so a quiet day lands nothing. The first read
of each lands everything.

``reported_total``: transactions/listings from ``lifecycle-group-counts``; network from the
agent's ``sizeOfNetwork``; paged revshare/equity lists from ``totalCount`` when the envelope has
it; otherwise the count of ids served. Records without a usable UUID ``id``, or with a field
staging relies on of the wrong JSON type (:mod:`dlt_pipelines.rezen.validate`), are quarantined
with a reason naming the field and are not loaded; the rest of the page loads.

Not ``dlt.sources.incremental``, for any of them. Network and contributions send a *date*
(``updatedAtFrom``, ``startDate``) floored from the newest epoch-millisecond value seen, so the
API serves records older than dlt's lagged start value; those re-reads land when their content
changed without their time moving (:class:`~dlt_pipelines.landed.LandedVersions`), where dlt's
incremental would drop them. The deal lists keep one cursor per lifecycle group inside one
resource (dlt keeps one per resource) and stop *below* it, not at it. Participants' cursor is
raw itself (transactions whose newest listed version has no detail yet), not a value of the
records served.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from sqlalchemy import text

from agentsync import db
from dlt_pipelines.http import ApiError
from dlt_pipelines.landed import LandedSnapshot, LandedVersions
from dlt_pipelines.rezen import validate
from dlt_pipelines.rezen.client import RezenClient
from dlt_pipelines.rezen.columns import TABLES
from dlt_pipelines.rezen.settings import (
    AGENT_STATUSES,
    CONTRIBUTIONS_LOOKBACK_DAYS,
    CONTRIBUTORS_START,
    DETAIL_WORKERS,
    DOWNLINE_LOOKBACK_DAYS,
    LIFECYCLE_GROUPS,
    TIERS,
)
from dlt_pipelines.run import EntityCounts, Quarantine

State = dict[str, Any]  # a resource's dlt state, read and updated by its read

SOURCE = "rezen"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Raw table per entity (participants also write transaction_details).
RAW_TABLES: dict[str, str] = {
    "teams": "teams",
    "team_members": "team_members",
    "agent": "agent",
    "network": "network",
    "cap_info": "cap_info",
    "front_line": "front_line",
    "sponsors": "sponsors",
    "transactions": "transactions",
    "listings": "listings",
    "participants": "transaction_participants",
    "equity": "equity",
    "revshare_payments": "revshare_payments",
    "contributions": "contributions",
    "pending_contributions": "pending_contributions",
    "contributors": "contributors",
}


#: raw tables whose records the source itself keys (a look-back re-reads them): their
#: ``primary_key`` hint. The other tables are lists read whole, landed all or nothing.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "network": ("user_id", "tier", "id"),
    "transactions": ("user_id", "id"),
    "listings": ("user_id", "id"),
    "contributions": ("user_id", "tier", "id"),
}


@dataclass
class RezenAccount:
    """The agent's reZEN account as one load reads it: the client, the agent's own record
    (``agents/me``), where unusable records go, and what each entity served.

    Attributes:
        counts: per entity, rows landed, total and cursor (the booked entities' are the load's
            :attr:`dlt_pipelines.run.EntityLoad.counts`; others may be added).
    """

    user_id: int
    client: RezenClient
    me: dict[str, Any]
    quarantine: Quarantine
    counts: dict[str, EntityCounts]

    @property
    def yenta_id(self) -> str:
        return str(self.me["id"])

    def count(self, entity: str) -> EntityCounts:
        """The counts of ``entity`` (created on first use)."""
        return self.counts.setdefault(entity, EntityCounts())


def valid_id(value: Any) -> bool:
    """A.4: ids are UUID strings."""
    return isinstance(value, str) and bool(_UUID.match(value))


def _checked(account: RezenAccount, entity: str, rows: list[Any]) -> list[dict[str, Any]]:
    """The rows with a UUID id and the field types staging needs; the others are quarantined.

    The quarantine reason names the problem: no usable id, or the field with the wrong type and
    its value (:mod:`dlt_pipelines.rezen.validate`).
    """
    out = []
    for row in rows:
        if not isinstance(row, dict):
            account.quarantine.add(entity, row, f"record is a {type(row).__name__}, not an object")
            continue
        rid = row.get("id", row.get("agentYentaId"))
        if not valid_id(rid):
            account.quarantine.add(entity, row, "missing or invalid UUID id", rid)
            continue
        why = validate.problem(entity, row)
        if why is not None:
            account.quarantine.add(entity, row, why, rid)
            continue
        out.append(row)
    return out


def _to_land(
    account: RezenAccount, entity: str, rows: list[dict[str, Any]], **extra: Any
) -> list[dict]:
    """Checked rows as they land (with ``user_id`` and the ``extra`` columns), counted as landed
    rows of ``entity``."""
    out = [{**row, **extra, "user_id": account.user_id} for row in rows]
    account.count(entity).rows += len(out)
    return out


def _valid_to_land(account: RezenAccount, entity: str, rows: list[Any], **extra: Any) -> list[dict]:
    """The rows that can land (:func:`_checked`: the others are quarantined), as they land
    (:func:`_to_land`)."""
    return _to_land(account, entity, _checked(account, entity, rows), **extra)


def _snapshot(
    account: RezenAccount,
    state: State,
    entity: str,
    rows: list[dict[str, Any]],
    **extra: Any,
) -> list[dict]:
    """The checked rows of a list read whole (the agent's current snapshot of ``entity``),
    tagged and counted when the list differs from the one last landed (kept in the reading
    resource's ``state``); none when it is the same
    (:class:`~dlt_pipelines.landed.LandedSnapshot`: all or nothing, since the marts read the
    newest load as the whole list)."""
    account.count(entity)
    tagged = [{**row, **extra, "user_id": account.user_id} for row in rows]
    if not LandedSnapshot(state, f"snapshot_{entity}").changed(tagged):
        return []
    return _to_land(account, entity, rows, **extra)


def _fresh(versions: LandedVersions, rows: list[dict[str, Any]], tier: int) -> list[dict]:
    """The checked rows of a look-back window (with their ``tier``) that are not in raw exactly
    as read now; the marts keep the newest version per id, so the others add nothing."""
    return versions.fresh([{**row, "tier": tier} for row in rows], lambda r: f"{tier}:{r['id']}")


def _to_table(rows: list[dict[str, Any]], table: str) -> Any:
    """Route rows to a raw table of their own, with that table's declared columns (a hints
    variant per table: one resource's tables never share their column hints)."""
    hints = dlt.mark.make_hints(table_name=table, columns=TABLES[table].hints())
    return dlt.mark.with_hints(rows, hints, create_table_variant=True)


def _downline_size() -> int:
    from dlt_pipelines.rezen import settings as rezen_settings

    return rezen_settings.DOWNLINE_PAGE_SIZE


def _ms_to_date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


# -- teams step ------------------------------------------------------------------------------


def _team_refs(account: RezenAccount) -> list[dict[str, Any]]:
    """The ``teams`` of ``agents/me`` that name a team; unusable ones are quarantined."""
    teams = account.me.get("teams") or []
    if not isinstance(teams, list):
        why = validate.problem("agent", account.me) or "agents/me teams is not a list"
        account.quarantine.add("teams", {"teams": teams}, f"agents/me {why}")
        return []
    refs = []
    for ref in teams:
        if isinstance(ref, dict) and isinstance(ref.get("teamId"), str):
            refs.append(ref)
        else:
            account.quarantine.add(
                "teams", ref, f"agents/me teams item without a teamId: {ref!r}"[:200]
            )
    return refs


def _roster_item(m: dict[str, Any]) -> dict[str, Any]:
    """A roster item's id (its own, else its agent's), before the type checks."""
    agent = m.get("agent")
    return {**m, "id": m.get("id") or (agent.get("id") if isinstance(agent, dict) else None)}


def _teams(account: RezenAccount, state: State) -> Iterator[Any]:
    refs = _team_refs(account)
    members_total = 0
    teams: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for ref in refs:
        team = account.client.get("yenta", f"/teams/{ref['teamId']}")
        checked = _checked(account, "teams", [team])
        if not checked:
            continue  # quarantined with its roster
        team = dict(checked[0])
        roster = team.pop("agents", None) or team.pop("members", None) or []
        teams.append(team)
        members_total += len(roster)
        items = [_roster_item(m) if isinstance(m, dict) else m for m in roster]
        members += [
            # roles as one comma-separated text column (dlt would make a child table)
            {**m, "roles": ",".join(map(str, m.get("roles") or [])), "team_id": team.get("id")}
            for m in _checked(account, "team_members", items)
        ]
    if kept := _snapshot(account, state, "teams", teams):
        yield _to_table(kept, "teams")
    if kept := _snapshot(account, state, "team_members", members):
        yield _to_table(kept, "team_members")
    served = account.me.get("teams")
    # quarantined team references still count as served (the quarantine explains them)
    account.count("teams").reported_total = len(served) if isinstance(served, list) else len(refs)
    account.count("team_members").reported_total = members_total


# -- agents step -----------------------------------------------------------------------------


def _agent(account: RezenAccount, state: State) -> Iterator[Any]:
    if kept := _snapshot(account, state, "agent", _checked(account, "agent", [dict(account.me)])):
        yield kept
    account.count("agent").reported_total = 1


def _network(account: RezenAccount, state: State) -> Iterator[Any]:
    since = state.get("updated_at_from")
    newest: int | None = None
    params: dict[str, Any] = {"statusIn": list(AGENT_STATUSES)}
    if since:
        params["updatedAtFrom"] = since
    account.count("network")
    versions = LandedVersions(state, trust=bool(since))
    for tier in TIERS:
        path = f"/agents/{account.yenta_id}/down-line/{tier}"
        for rows, _ in account.client.pages(
            "yenta", path, "downLineAgents", params, _downline_size()
        ):
            checked = _checked(account, "network", rows)
            for r in checked:
                if isinstance(r.get("updatedAt"), int):
                    newest = max(newest or 0, r["updatedAt"])
            kept = _to_land(account, "network", _fresh(versions, checked, tier=tier))
            if kept:
                yield kept
    versions.commit()
    if newest is not None:
        state["updated_at_from"] = (
            _ms_to_date(newest) - timedelta(days=DOWNLINE_LOOKBACK_DAYS)
        ).isoformat()
    counted = account.count("network")
    size = account.me.get("sizeOfNetwork")
    counted.reported_total = int(size) if isinstance(size, int) else counted.rows
    counted.cursor = since


def _cap_info(account: RezenAccount, state: State) -> Iterator[Any]:
    cap = account.client.get("yenta", f"/agents/{account.yenta_id}/cap-info")
    row = {**cap, "id": cap.get("agentId") or account.yenta_id}
    if kept := _snapshot(account, state, "cap_info", _checked(account, "cap_info", [row])):
        yield kept
    account.count("cap_info").reported_total = 1


def _front_line(account: RezenAccount, state: State) -> Iterator[Any]:
    body = account.client.get("yenta", f"/agents/{account.yenta_id}/front-line-agents-info")
    rows = body.get("frontLineAgentInfos", []) if isinstance(body, dict) else body
    checked = _checked(account, "front_line", rows)
    kept = _snapshot(account, state, "front_line", checked, sponsor_id=account.yenta_id)
    account.count("front_line").reported_total = len(rows)
    if kept:
        yield kept


def _sponsors(account: RezenAccount, state: State) -> Iterator[Any]:
    body = account.client.get("yenta", f"/agents/{account.yenta_id}/sponsor-tree")
    rows = body.get("flattenedSponsors") or []
    checked = _checked(account, "sponsors", rows)
    kept = _snapshot(account, state, "sponsors", checked, agent_id=account.yenta_id)
    account.count("sponsors").reported_total = len(rows)
    if kept:
        yield kept


# -- transactions step -----------------------------------------------------------------------


def _deal_lists(account: RezenAccount, state: State, listings: bool) -> Iterator[Any]:
    entity = "listings" if listings else "transactions"
    segment = "listing-transactions" if listings else "transactions"
    base = f"/transactions/participant/{account.yenta_id}/{segment}"
    counts = account.client.get("arrakis", f"{base}/lifecycle-group-counts")
    counted = account.count(entity)
    counted.reported_total = sum(int(counts.get(g) or 0) for g in LIFECYCLE_GROUPS)
    cursors: dict[str, int] = state.setdefault("cursors", {})
    # each group re-reads its records at the cursor's instant: those exactly as landed stay out
    versions = LandedVersions(state, trust=bool(cursors))
    for group in LIFECYCLE_GROUPS:
        cursor = cursors.get(group)
        newest = cursor
        params = {"sortBy": "UPDATED_AT", "sortDirection": "DESC"}
        for rows, _ in account.client.pages("arrakis", f"{base}/{group}", "transactions", params):
            fresh = []
            done = False
            for row in rows:
                upd = row.get("updatedAt") if isinstance(row, dict) else None
                if cursor is not None and isinstance(upd, int) and upd < cursor:
                    done = True  # sorted newest first: the rest was loaded before
                    break
                fresh.append(row)
            checked = _checked(account, entity, fresh)
            for row in checked:  # a quarantined row does not move the cursor
                if isinstance(row.get("updatedAt"), int):
                    newest = max(newest or 0, row["updatedAt"])
            rows = [{**row, "lifecycle_group": group} for row in checked]
            kept = _to_land(account, entity, versions.fresh(rows, lambda r: r["id"]))
            if kept:
                yield kept
            if done:
                break
        if newest is not None:
            cursors[group] = newest
    versions.commit()
    counted.cursor = ",".join(f"{g}:{cursors.get(g)}" for g in LIFECYCLE_GROUPS)


# -- participants step -----------------------------------------------------------------------


def _table_exists(conn: Any, table: str) -> bool:
    return conn.execute(text("select to_regclass(:t)"), {"t": f"raw_rezen.{table}"}).scalar()


def transactions_needing_detail(user_id: int) -> list[str]:
    """Transactions whose newest listed ``updatedAt`` is newer than their newest detail."""
    with db.begin() as conn:
        if not _table_exists(conn, "transactions"):
            return []
        details = _table_exists(conn, "transaction_details")
        sql = """
            with listed as (
                select id, max(updated_at) as updated_at
                  from raw_rezen.transactions where user_id = :u group by id
            )
            select l.id from listed l
        """
        if details:
            sql += """
             left join (
                select id, max(updated_at) as updated_at
                  from raw_rezen.transaction_details where user_id = :u group by id
             ) d on d.id = l.id
             where d.id is null or d.updated_at < l.updated_at
            """
        return [r[0] for r in conn.execute(text(sql + " order by 1"), {"u": user_id})]


def _participants(account: RezenAccount, state: State) -> Iterator[Any]:
    ids = transactions_needing_detail(account.user_id)
    counted = account.count("participants")

    def fetch(tid: str) -> tuple[str, dict[str, Any] | None, str | None]:
        try:
            return tid, account.client.get("arrakis", f"/transactions/{tid}"), None
        except ApiError as err:
            if err.status == 404:
                return tid, None, "transaction detail not found (404)"
            raise

    with ThreadPoolExecutor(DETAIL_WORKERS) as pool:
        for start in range(0, len(ids), 100):
            for tid, detail, problem in pool.map(fetch, ids[start : start + 100]):
                if detail is None:
                    account.quarantine.add("participants", {"transaction_id": tid}, problem, tid)
                    continue
                why = validate.problem("transaction_details", detail)
                if why is not None:
                    # the detail (with its participants) is retried on the next run
                    reason = f"transaction detail: {why}"
                    account.quarantine.add("participants", detail, reason, tid)
                    continue
                parts = detail.pop("participants", None) or []
                rows = _valid_to_land(account, "transaction_details", [detail])
                if rows:
                    yield _to_table(rows, "transaction_details")
                prows = _valid_to_land(
                    account,
                    "participants",
                    parts,
                    transaction_id=tid,
                    transaction_updated_at=detail.get("updatedAt"),
                )
                if prows:
                    yield _to_table(prows, "transaction_participants")
    # The API reports no total for participants (they come from each changed transaction's
    # detail), and a daily run sees only the changed ones: report none rather than a delta, so
    # reconciliation compares raw ids with the mart instead of with a partial count.
    counted.reported_total = None
    counted.cursor = f"details:{len(ids)}"


# -- contributions step ----------------------------------------------------------------------


def _paged(
    account: RezenAccount, state: State, entity: str, service: str, path: str, key: str
) -> Iterator[Any]:
    counted = account.count(entity)
    reported = None
    served: list[dict[str, Any]] = []
    for rows, env in account.client.pages(service, path, key):
        if isinstance(env.get("totalCount"), int):
            reported = env["totalCount"]
        served += _checked(account, entity, rows)
    if kept := _snapshot(account, state, entity, served):
        yield kept
    counted.reported_total = reported if reported is not None else counted.rows


def _equity(account: RezenAccount, state: State) -> Iterator[Any]:
    path = f"/agents/{account.yenta_id}/equity-purchases"
    yield from _paged(account, state, "equity", "yenta", path, "equityPurchases")


def _revshare_payments(account: RezenAccount, state: State) -> Iterator[Any]:
    path = f"/revshares/{account.yenta_id}/payments"
    yield from _paged(account, state, "revshare_payments", "arrakis", path, "payments")


def _pending(account: RezenAccount, state: State) -> Iterator[Any]:
    path = f"/revshares/{account.yenta_id}/payments/pending"
    yield from _paged(account, state, "pending_contributions", "arrakis", path, "contributions")


def _contributions(account: RezenAccount, state: State) -> Iterator[Any]:
    since = state.get("start_date")
    counted = account.count("contributions")
    reported = 0
    newest: int | None = None
    versions = LandedVersions(state, trust=bool(since))
    for tier in TIERS:
        path = f"/revshares/{account.yenta_id}/contributions/{tier}"
        params = {"startDate": since} if since else {}
        for page, (rows, env) in enumerate(
            account.client.pages("arrakis", path, "contributions", params)
        ):
            if page == 0:
                reported += int(env.get("totalCount") or 0)
            checked = _checked(account, "contributions", rows)
            for r in checked:
                if isinstance(r.get("transactionClosedAt"), int):
                    newest = max(newest or 0, r["transactionClosedAt"])
            kept = _to_land(account, "contributions", _fresh(versions, checked, tier=tier))
            if kept:
                yield kept
    versions.commit()
    if newest is not None:
        state["start_date"] = (
            _ms_to_date(newest) - timedelta(days=CONTRIBUTIONS_LOOKBACK_DAYS)
        ).isoformat()
    if since:
        # A windowed (incremental) run saw only the window's count; reconciliation needs the
        # whole collection's total, so ask each tier for it (one one-row page per tier).
        reported = 0
        for tier in TIERS:
            path = f"/revshares/{account.yenta_id}/contributions/{tier}"
            env = account.client.get("arrakis", path, {"pageNumber": 0, "pageSize": 1})
            reported += int((env or {}).get("totalCount") or 0)
    counted.reported_total = reported or counted.rows
    counted.cursor = since


def _contributors(account: RezenAccount, state: State) -> Iterator[Any]:
    counted = account.count("contributors")
    end = date.today() + timedelta(days=366)
    params = {"startDate": CONTRIBUTORS_START.isoformat(), "endDate": end.isoformat()}
    reported = 0
    served: list[dict[str, Any]] = []
    for tier in TIERS:
        path = f"/revshares/{account.yenta_id}/contributors/{tier}"
        for page, (rows, env) in enumerate(
            account.client.pages("arrakis", path, "contributors", params)
        ):
            if page == 0:
                reported += int(env.get("totalCount") or 0)
            rows = [{**r, "id": r.get("agentYentaId")} for r in rows]
            served += [{**r, "tier": tier} for r in _checked(account, "contributors", rows)]
    if kept := _snapshot(account, state, "contributors", served):
        yield kept
    counted.reported_total = reported or counted.rows


# -- wiring ----------------------------------------------------------------------------------

Gen = Callable[[RezenAccount, State], Iterator[Any]]
RESOURCES: dict[str, Gen] = {
    "teams": _teams,
    "agent": _agent,
    "network": _network,
    "cap_info": _cap_info,
    "front_line": _front_line,
    "sponsors": _sponsors,
    "transactions": lambda account, state: _deal_lists(account, state, listings=False),
    "listings": lambda account, state: _deal_lists(account, state, listings=True),
    "participants": _participants,
    "equity": _equity,
    "revshare_payments": _revshare_payments,
    "contributions": _contributions,
    "pending_contributions": _pending,
    "contributors": _contributors,
}


def resources_of(entities: tuple[str, ...]) -> list[str]:
    """The resources that read ``entities`` (one each; ``team_members`` rows come from the
    ``teams`` resource), in order."""
    return [entity for entity in entities if entity != "team_members"]


def read(account: RezenAccount, resource: str, state: State) -> Iterator[Any]:
    """One resource's rows, read on ``state`` (its resource state, which the read updates)."""
    return RESOURCES[resource](account, state)


def _in_dlt(account: RezenAccount, resource: str) -> Iterator[Any]:
    """The resource read inside dlt's extract, on dlt's resource state."""
    yield from read(account, resource, dlt.current.resource_state())


@dlt.source(name=SOURCE, max_table_nesting=2)
def rezen_source(
    account: RezenAccount,
    entities: tuple[str, ...],
    begun: dict[str, Callable[[], Iterator[Any]]] | None = None,
) -> list[Any]:
    """The agent's reZEN entities of one step (``STEP_ENTITIES``), one resource each, appended to
    ``raw_rezen.<RAW_TABLES[entity]>`` with the table's declared columns; ``primary_key`` where
    the source keys the records (:data:`PRIMARY_KEYS`). ``team_members`` rows come from the
    ``teams`` resource. ``begun``: per resource, the rest of a read begun before dlt's extract
    (:meth:`dlt_pipelines.run.EntityLoad.land_reads`); the others read here."""
    begun = begun or {}
    out = []
    for entity in resources_of(entities):
        table = RAW_TABLES[entity]
        # a resource writing two tables routes its rows with each table's own columns
        # (_to_table); hints of its own would reach both tables
        routed = entity in ("teams", "participants")
        out.append(
            dlt.resource(
                begun[entity]() if entity in begun else _in_dlt(account, entity),
                name=entity,
                table_name=table,
                write_disposition="append",
                columns=None if routed else TABLES[table].hints(),
                primary_key=PRIMARY_KEYS.get(table),
            )
        )
    return out
