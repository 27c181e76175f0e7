"""Per-agent counts and freshness of one registry entity, as SQL.

One query per :class:`~agentsync.contracts.EntitySpec` yields a row per ``user_id`` with:

- ``reported_total``: the total the source API reported in the latest successful sync run that
  reported one (``ops.sync_runs.reported_total``), while it is current: a later successful run
  that loaded rows without reporting a total (SkySlope's date-window reads) makes it stale, and
  the entity is then checked raw <-> mart only until a full read reports a total again;
- ``raw_rows`` / ``raw_ids``: versions and distinct vendor ids in the append-only raw table;
  ``superseded = raw_rows - raw_ids`` (older versions replaced by a newer one);
- ``mart_rows`` and ``excluded_<reason>`` for each flag column of the entity (``trashed``,
  ``deleted``, ...), ``final_rows`` = mart rows with no exclusion flag;
- ``quarantined``: distinct records in ``ops.quarantine`` that never reached the mart;
- ``missing_in_mart``: distinct raw ids with no mart row (should be 0 after a dbt run);
- ``unexplained_gap``: ``reported_total - (mart_rows - excluded_deleted + quarantined)``. A record
  deleted at the vendor is no longer in the reported total but stays in the mart flagged; every
  other mart row (trashed included) is one the API still reports. Without a reported total the
  gap is ``raw_ids - mart_rows``;
- ``last_success_at``: the newest successful sync run; ``newest_record_at``: max of the entity's
  freshness column in the mart;
- ``sync_required``: the agent still exists and (for a vendor integration) is still connected to
  this source; only then is freshness expected: ``synced_ok`` (has a successful sync) and
  ``sync_age_hours`` (null when not required). A removed agent or a disconnected integration
  keeps its counts but no longer fails freshness.

A raw or mart table that does not exist yet is read as empty, so the checks work on a database
where a source has never loaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentsync.agents import INTEGRATIONS
from agentsync.contracts import EntitySpec

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class EntitySpecError(ValueError):
    """An entity spec names a table or column that is not a plain SQL identifier."""


def ident(name: str, what: str) -> str:
    """``name`` double-quoted after checking it is a plain lowercase identifier."""
    if not _IDENT.match(name or ""):
        raise EntitySpecError(f"{what} {name!r} is not a plain lowercase SQL identifier")
    return f'"{name}"'


def split_table(qualified: str, what: str) -> tuple[str, str]:
    """``schema.table`` split and checked (raises :class:`EntitySpecError`)."""
    parts = (qualified or "").split(".")
    if len(parts) != 2:
        raise EntitySpecError(f"{what} {qualified!r} must be schema-qualified (schema.table)")
    ident(parts[0], what)
    ident(parts[1], what)
    return parts[0], parts[1]


def qtable(qualified: str, what: str) -> str:
    schema, table = split_table(qualified, what)
    return f'"{schema}"."{table}"'


def entity_key(spec: EntitySpec) -> str:
    """``<source>.<entity>``: how checks and reports name an entity."""
    return f"{spec.source}.{spec.entity}"


def reasons(spec: EntitySpec) -> list[str]:
    """The exclusion reasons of an entity (its flag columns), checked and sorted."""
    for reason, column in spec.excluded_flag_columns.items():
        ident(reason, f"{entity_key(spec)} exclusion reason")
        ident(column, f"{entity_key(spec)} exclusion column")
    return sorted(spec.excluded_flag_columns)


def table_exists(conn: Connection, qualified: str) -> bool:
    return conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": qualified}).scalar()


#: a table is analysed before it is counted when rows changed since its statistics were taken
#: exceed this share of it (autovacuum's default is 10% plus 50 rows, but it runs later)
STALE_STATISTICS = 0.2


def analyze_stale(conn: Connection, tables: Sequence[str]) -> list[str]:
    """``ANALYZE`` those of ``tables`` that have no planner statistics yet, or whose rows changed
    since by more than :data:`STALE_STATISTICS` of them; returns the tables analysed.

    A table dbt or dlt has just filled (the first build of a 1.7M-row mart) has none until
    autovacuum gets to it, and a count joining it with raw was then planned for 40,000 rows: at
    seed scale the onboarding's gate took 844 s instead of 28 s. Analysing samples 30,000 rows,
    about a second for the largest table here."""
    done: list[str] = []
    for table in tables:
        row = conn.execute(
            sa.text(
                "select s.last_analyze is null and s.last_autoanalyze is null, "
                "s.n_mod_since_analyze, greatest(c.reltuples, 0) "
                "from pg_class as c join pg_stat_user_tables as s on s.relid = c.oid "
                "where c.oid = to_regclass(:t)"
            ),
            {"t": table},
        ).first()
        if row is None:
            continue
        never, changed, rows = row
        if never or (changed or 0) > STALE_STATISTICS * max(rows, 1):
            conn.execute(sa.text(f"analyze {qtable(table, 'table')}"))
            done.append(table)
    return done


def _literal(value: str) -> str:
    ident(value, "source/entity name")  # plain identifiers only, so quoting is trivial
    return f"'{value}'"


@dataclass(frozen=True)
class Presence:
    """Which relations of an entity exist right now (missing ones are read as empty)."""

    raw: bool
    mart: bool
    same_id_type: bool = False  # raw and mart id columns share a type: compare without casts


def _column_type(conn: Connection, table: str, column: str) -> str | None:
    return conn.execute(
        sa.text(
            "select format_type(a.atttypid, a.atttypmod) from pg_attribute as a "
            "where a.attrelid = to_regclass(:t) and a.attname = :c and not a.attisdropped"
        ),
        {"t": table, "c": column},
    ).scalar()


def presence(conn: Connection, spec: EntitySpec) -> Presence:
    raw = table_exists(conn, spec.raw_table)
    mart = spec.mart is not None and table_exists(conn, spec.mart)
    same = False
    if raw and mart and spec.mart is not None:
        rtype = _column_type(conn, spec.raw_table, spec.raw_id_column)
        same = rtype is not None and rtype == _column_type(conn, spec.mart, spec.mart_id_column)
    return Presence(raw=raw, mart=mart, same_id_type=same)


def _scope(user_ids: Sequence[int] | None) -> str | None:
    if not user_ids:
        return None
    return "array[" + ",".join(str(int(u)) for u in user_ids) + "]::bigint[]"


def count_columns(spec: EntitySpec) -> list[str]:
    """The columns of :func:`counts_sql` after ``user_id``, in order."""
    return [
        "raw_rows",
        "raw_ids",
        "missing_in_mart",
        "mart_rows",
        "final_rows",
        *(f"excluded_{r}" for r in reasons(spec)),
        "quarantined",
        "newest_record_at",
    ]


def counts_sql(spec: EntitySpec, present: Presence, user_ids: Sequence[int] | None = None) -> str:
    """The part of the metrics that reads the data: one row per agent with data (raw, mart or
    quarantine) and the columns :func:`count_columns` lists.

    It depends only on the entity's raw table, its final table and ``ops.quarantine``, which is
    what lets the gate keep it between runs and recompute only the agents whose rows changed
    (:mod:`agentsync.quality.changes`). With ``user_ids``, every scan is limited to those agents.
    """
    key = entity_key(spec)
    only = _scope(user_ids)
    rid = ident(spec.raw_id_column, f"{key} raw_id_column")
    mid = ident(spec.mart_id_column, f"{key} mart_id_column")
    fresh = (
        ident(spec.freshness_column, f"{key} freshness_column") if spec.freshness_column else None
    )
    why = reasons(spec)
    flags = {r: ident(spec.excluded_flag_columns[r], f"{key} exclusion column") for r in why}

    if present.raw:
        raw = qtable(spec.raw_table, f"{key} raw_table")
    else:
        split_table(spec.raw_table, f"{key} raw_table")
        raw = f"(select null::bigint as user_id, null::text as {rid} where false)"
    if spec.mart is not None and present.mart:
        mart = qtable(spec.mart, f"{key} mart")
    elif spec.mart is None and present.raw:
        # no final table: the distinct raw ids stand in for it (nothing can be missing)
        cols = [f"null::boolean as {c}" for c in flags.values()]
        if fresh:
            cols.append(f"null::timestamptz as {fresh}")
        extra = "".join(f", {c}" for c in cols)
        mart = f"(select distinct r.user_id, r.{rid}::text as {mid}{extra} from {raw} as r)"
    else:
        if spec.mart is not None:
            split_table(spec.mart, f"{key} mart")
        cols = [f"null::text as {mid}"]
        cols += [f"null::boolean as {c}" for c in flags.values()]
        if fresh:
            cols.append(f"null::timestamptz as {fresh}")
        mart = f"(select null::bigint as user_id, {', '.join(cols)} where false)"

    if only:
        raw = f"(select * from {raw} as r0 where r0.user_id = any({only}))"
        mart = f"(select * from {mart} as m0 where m0.user_id = any({only}))"
    scoped = f" and q.user_id = any({only})" if only else ""
    any_flag = " or ".join(f"coalesce(m.{c}, false)" for c in flags.values()) or "false"
    flag_counts = "".join(
        f",\n               count(*) filter (where coalesce(m.{c}, false)) as excluded_{r}"
        for r, c in flags.items()
    )
    newest = f"max(m.{fresh})::timestamptz" if fresh else "null::timestamptz"
    excluded_cols = "".join(
        f",\n       coalesce(mt.excluded_{r}, 0)::bigint as excluded_{r}" for r in why
    )
    src, ent = _literal(spec.source), _literal(spec.entity)
    same = present.same_id_type and spec.mart is not None
    rkey = f"r.{rid}" if same else f"r.{rid}::text"
    mkey = f"m.{mid}" if same else f"m.{mid}::text"
    return f"""
with raw_ids as (
        select r.user_id, {rkey} as rid, count(*) as versions
          from {raw} as r
         group by 1, 2
), mart_ids as (
        select distinct m.user_id, {mkey} as mid
          from {mart} as m
), raw_counts as (
        select ri.user_id, sum(ri.versions)::bigint as raw_rows, count(*) as raw_ids,
               count(*) filter (where mi.mid is null) as missing_in_mart
          from raw_ids as ri
          left join mart_ids as mi on mi.user_id = ri.user_id and mi.mid = ri.rid
         group by ri.user_id
), mart_counts as (
        select m.user_id, count(*) as mart_rows,
               count(*) filter (where not ({any_flag})) as final_rows,
               {newest} as newest_record_at{flag_counts}
          from {mart} as m
         group by m.user_id
), quarantined_records as (
        select q.user_id,
               count(distinct coalesce(q.record_id, 'row:' || q.quarantine_id::text)) as quarantined
          from ops.quarantine as q
         where q.source = {src} and q.entity = {ent}{scoped}
           and (q.record_id is null or not exists (
                select 1 from {mart} as m
                 where m.user_id = q.user_id and m.{mid}::text = q.record_id))
         group by q.user_id
), agents as (
        select user_id from raw_counts
        union select user_id from mart_counts
        union select user_id from quarantined_records
)
select a.user_id::bigint as user_id,
       coalesce(rc.raw_rows, 0)::bigint as raw_rows,
       coalesce(rc.raw_ids, 0)::bigint as raw_ids,
       coalesce(rc.missing_in_mart, 0)::bigint as missing_in_mart,
       coalesce(mt.mart_rows, 0)::bigint as mart_rows,
       coalesce(mt.final_rows, 0)::bigint as final_rows{excluded_cols},
       coalesce(qr.quarantined, 0)::bigint as quarantined,
       mt.newest_record_at
  from agents as a
  left join raw_counts as rc using (user_id)
  left join mart_counts as mt using (user_id)
  left join quarantined_records as qr using (user_id)
 where a.user_id is not null
"""


def metrics_from(spec: EntitySpec, counts: str, user_ids: Sequence[int] | None = None) -> str:
    """The metrics (module docstring) from ``counts``, a relation or subquery with the columns of
    :func:`counts_sql`, joined with what the sync runs, agents and credentials say now.

    That part is cheap (``ops.sync_runs`` by agent and entity, two small tables) and depends on
    the clock, so it is computed at every run. With ``user_ids``, only those agents.
    """
    only = _scope(user_ids)
    why = reasons(spec)
    scoped = f" and user_id = any({only})" if only else ""
    counts_scoped = (
        f"(select * from {counts} as c0 where c0.user_id = any({only}))" if only else counts
    )
    excluded_cols = "".join(f",\n       coalesce(h.excluded_{r}, 0) as excluded_{r}" for r in why)
    deleted = "coalesce(h.excluded_deleted, 0)" if "deleted" in why else "0"
    src, ent = _literal(spec.source), _literal(spec.entity)
    integrations = ", ".join(_literal(i) for i in INTEGRATIONS)
    return f"""
with h as (
        select * from {counts_scoped} as c
), last_success as (
        select s.user_id, max(s.ended_at) as last_success_at
          from ops.sync_runs as s
         where s.source = {src} and s.entity = {ent} and s.status = 'done'{scoped}
         group by s.user_id
), last_reported as (
        select distinct on (s.user_id) s.user_id, s.reported_total, s.ended_at
          from ops.sync_runs as s
         where s.source = {src} and s.entity = {ent} and s.status = 'done'{scoped}
           and s.reported_total is not null
         order by s.user_id, s.ended_at desc
), current_reported as (
        -- a reported total stays current until a later successful run loads rows without
        -- reporting one (a SkySlope date-window read cannot count the account): from then on
        -- it is stale, and only raw <-> mart is checked until the next full read reports again
        select lr.user_id, lr.reported_total
          from last_reported as lr
         where not exists (
               select 1 from ops.sync_runs as s
                where s.source = {src} and s.entity = {ent} and s.status = 'done'
                  and s.user_id = lr.user_id and s.reported_total is null
                  and coalesce(s.rows, 0) > 0 and s.ended_at > lr.ended_at)
), agents as (
        select user_id from h
        union select user_id from ops.sync_runs where source = {src} and entity = {ent}{scoped}
)
select a.user_id,
       {src}::text as source,
       {ent}::text as entity,
       lr.reported_total,
       coalesce(h.raw_rows, 0) as raw_rows,
       coalesce(h.raw_ids, 0) as raw_ids,
       coalesce(h.raw_rows, 0) - coalesce(h.raw_ids, 0) as superseded,
       coalesce(h.mart_rows, 0) as mart_rows,
       coalesce(h.final_rows, 0) as final_rows{excluded_cols},
       coalesce(h.quarantined, 0) as quarantined,
       coalesce(h.missing_in_mart, 0) as missing_in_mart,
       case when lr.reported_total is not null
            then lr.reported_total
                 - (coalesce(h.mart_rows, 0) - {deleted} + coalesce(h.quarantined, 0))
            else coalesce(h.raw_ids, 0) - coalesce(h.mart_rows, 0)
       end as unexplained_gap,
       ls.last_success_at,
       req.sync_required,
       (not req.sync_required or ls.last_success_at is not null) as synced_ok,
       case when req.sync_required
            then extract(epoch from (now() - ls.last_success_at)) / 3600.0
       end as sync_age_hours,
       h.newest_record_at
  from agents as a
  left join h using (user_id)
  left join last_success as ls using (user_id)
  left join current_reported as lr using (user_id)
  cross join lateral (
        select exists (select 1 from ops.agents as g where g.user_id = a.user_id)
               and ({src} not in ({integrations}) or exists (
                    select 1 from ops.credentials as c
                     where c.user_id = a.user_id and c.integration = {src}))
               as sync_required
  ) as req
 where a.user_id is not null
"""


def metrics_sql(spec: EntitySpec, present: Presence, user_ids: Sequence[int] | None = None) -> str:
    """A ``select`` with one row per agent (columns as in the module docstring).

    With ``user_ids``, every scan (raw, mart, quarantine, sync runs) is limited to those agents,
    so the work follows the agents checked, not the whole tables.
    """
    return metrics_from(spec, f"({counts_sql(spec, present, user_ids)})", user_ids)


@dataclass
class EntityCounts:
    """One agent's counts for one entity (see the module docstring for each field)."""

    user_id: int
    source: str
    entity: str
    reported_total: int | None
    raw_rows: int
    raw_ids: int
    superseded: int
    mart_rows: int
    final_rows: int
    excluded: dict[str, int]
    quarantined: int
    missing_in_mart: int
    unexplained_gap: int
    last_success_at: object | None
    sync_required: bool
    synced_ok: bool
    sync_age_hours: float | None
    newest_record_at: object | None
    has_mart: bool = True

    @property
    def key(self) -> str:
        return f"{self.source}.{self.entity}"


def entity_counts(
    conn: Connection, spec: EntitySpec, user_ids: Sequence[int] | None = None
) -> list[EntityCounts]:
    """Counts for every agent (or only ``user_ids``) of one entity, ordered by agent."""
    present = presence(conn, spec)
    sql = f"select * from ({metrics_sql(spec, present, user_ids)}) as t"
    params: dict[str, object] = {}
    if user_ids:
        sql += " where t.user_id = any(:users)"
        params["users"] = list(user_ids)
    sql += " order by t.user_id"
    why = reasons(spec)
    out: list[EntityCounts] = []
    for row in conn.execute(sa.text(sql), params).mappings():
        out.append(
            EntityCounts(
                user_id=int(row["user_id"]),
                source=spec.source,
                entity=spec.entity,
                reported_total=None
                if row["reported_total"] is None
                else int(row["reported_total"]),
                raw_rows=int(row["raw_rows"]),
                raw_ids=int(row["raw_ids"]),
                superseded=int(row["superseded"]),
                mart_rows=int(row["mart_rows"]),
                final_rows=int(row["final_rows"]),
                excluded={r: int(row[f"excluded_{r}"]) for r in why},
                quarantined=int(row["quarantined"]),
                missing_in_mart=int(row["missing_in_mart"]),
                unexplained_gap=int(row["unexplained_gap"]),
                last_success_at=row["last_success_at"],
                sync_required=bool(row["sync_required"]),
                synced_ok=bool(row["synced_ok"]),
                sync_age_hours=None
                if row["sync_age_hours"] is None
                else float(row["sync_age_hours"]),
                newest_record_at=row["newest_record_at"],
                has_mart=spec.mart is not None,
            )
        )
    return out
