"""Schema drift: mapped raw fields that stop arriving, and new raw columns no model reads.

A vendor that renames a field (FUB ``name`` -> ``fullName``) breaks nothing visibly: dlt adds a
column for the new name, the old column stays (dlt never drops one) and is simply null from then
on, and the mart column it feeds turns NULL. Counts still reconcile. This module finds it.

*Mapped columns* are the raw columns the dbt models read, taken from PostgreSQL's own dependency
catalog: every staging model is a view (``dbt_project.yml``), and ``pg_depend`` records exactly
which columns of ``raw_<source>.<table>`` a view in one of the model schemas (:data:`MODEL_SCHEMAS`)
reads. No hand-maintained list: it follows the staging SQL as dbt last built it (a raw table no
built view reads is not judged at all).

*Mapped JSON keys*: a source that keeps the vendor's record as one JSON column (Qualia's
``order``, SkySlope's ``record``) has one raw column for all its fields, so a renamed field never
shows as a column. For a mapped ``json``/``jsonb`` column, the keys the model views read
(``->> 'key'`` / ``-> 'key'`` in their definitions, ``pg_get_viewdef``) are judged like columns,
as ``<column>.<key>`` at the top level of the record. A key named only deeper in the record is
never populated at the top level, so history never qualifies it and it raises nothing.

*Loads compared*, per agent and raw table: the agent's newest successful loads of the entity
(``ops.sync_runs.load_id``, at most :data:`HISTORY_LOADS`). The *new* loads are the newest one
holding at least :data:`MIN_NEW_ROWS` rows of the table plus any smaller ones after it (a webhook
load of one record does not hide the daily load before it); the *earlier* loads are the rest.
One set-based query per raw table reads only those loads (through the ``_dlt_load_id`` index dbt
keeps on every raw table): ``count(*)`` and ``count(col)`` per mapped column, grouped by agent
and load.

A mapped column is judged for an agent only with at least :data:`MIN_NEW_ROWS` new rows and
:data:`MIN_HISTORY_ROWS` earlier rows (an onboarding's first load has nothing to compare with),
and only when the earlier rows had it populated reliably (at least :data:`MIN_HISTORY_SHARE`),
so a sparse field (a close date, a note) never raises anything:

- **stopped**: null in every new row. Silent data loss: fails the gate
  (``AGENTSYNC_DRIFT_SEVERITY=error``, the default; ``warn`` makes it a warning);
- **dropping**: populated in fewer than :data:`PARTIAL_RATIO` of the earlier share: a warning.

Once the change is mapped (a model reads a column dlt added after creating the table, and that
column is populated in the new rows where it was not before: ``coalesce(name, full_name)``), the
agent's stopped or dropping fields of that table are no longer reported.

*New unmapped columns* are raw columns dlt added after it created the table (the first schema
version in ``<schema>._dlt_version`` holding the column is later than the first holding the
table) that no model view reads; each is listed with the first load carrying that schema
version. Information only: it never fails the gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentsync.contracts import EntitySpec
from agentsync.quality.metrics import entity_key, ident, qtable, split_table, table_exists

log = logging.getLogger(__name__)

#: schemas of the dbt models (dbt_project.yml): a view there reading a raw column maps it
MODEL_SCHEMAS = ("staging", "intermediate", "marts")
#: fewest rows in the new loads (per agent and table) for a column to be judged
MIN_NEW_ROWS = 5
#: fewest rows in the earlier loads: without history there is nothing to compare
MIN_HISTORY_ROWS = 5
#: a column is judged only when at least this share of the earlier rows had it populated
MIN_HISTORY_SHARE = 0.95
#: a new share below this fraction of the earlier share is a partial drop (a warning)
PARTIAL_RATIO = 0.5
#: loads per agent and entity read (new + earlier): bounds the history summary
HISTORY_LOADS = 20
#: never judged, never listed: dlt's bookkeeping and the agent column every source adds
_IGNORED = ("user_id",)

STOPPED, DROPPING, RENAMED = "stopped", "dropping", "renamed"


@dataclass
class AgentField:
    """One agent's counts for one mapped column: new loads vs earlier loads."""

    user_id: int
    new_rows: int
    new_populated: int
    old_rows: int
    old_populated: int
    new_loads: list[str]


@dataclass
class FieldDrift:
    """A mapped raw column that stopped arriving (``kind`` stopped) or is dropping."""

    source: str
    entity: str
    raw_table: str
    column: str
    kind: str
    severity: str  # "error" (fails the gate) or "warn"
    agents: list[AgentField] = field(default_factory=list)
    #: ``renamed``: the unmapped raw column that carries the field in the rows that lack it
    replaced_by: str | None = None

    @property
    def key(self) -> str:
        return f"{self.source}.{self.entity}"

    @property
    def user_ids(self) -> list[int]:
        return sorted(a.user_id for a in self.agents)

    @property
    def name(self) -> str:
        """Stable across runs (what alerts are keyed on)."""
        if self.kind == RENAMED:
            return f"drift {self.key} field {self.column} replaced by {self.replaced_by}"
        what = "stopped arriving" if self.kind == STOPPED else "partly missing"
        return f"drift {self.key} field {self.column} {what}"

    @property
    def line(self) -> str:
        new = sum(a.new_rows for a in self.agents)
        new_null = new - sum(a.new_populated for a in self.agents)
        old = sum(a.old_rows for a in self.agents)
        old_pct = 100.0 * sum(a.old_populated for a in self.agents) / old if old else 0.0
        agents = ", ".join(str(u) for u in self.user_ids)
        if self.kind == RENAMED:
            return (
                f"drift {self.key} field {self.column}: null in {new_null} of {new} rows of the "
                f"newest load(s), exactly the rows that carry the unmapped field "
                f"{self.replaced_by} (a renamed field: map it, e.g. coalesce({self.column}, "
                f"{self.replaced_by})) (agents {agents})"
            )
        return (
            f"drift {self.key} field {self.column}: null in {new_null} of {new} rows of the "
            f"newest load(s), populated in {old_pct:.0f}% of earlier rows (agents {agents})"
        )

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.update(name=self.name, line=self.line)
        return out


@dataclass
class NewColumn:
    """A raw column dlt added after creating the table that no model reads."""

    raw_table: str
    column: str
    first_load_id: str | None
    added_at: object | None
    #: agents with the column populated in their newest loads, and in how many rows
    populated: dict[int, int] = field(default_factory=dict)

    @property
    def line(self) -> str:
        since = f"load {self.first_load_id}" if self.first_load_id else f"{self.added_at}"
        rows = ""
        if self.populated:
            agents = ", ".join(str(u) for u in sorted(self.populated))
            rows = f"; in {sum(self.populated.values())} rows of the newest loads (agents {agents})"
        return f"{self.raw_table}.{self.column} (new since {since}, not read by any model{rows})"

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["populated"] = {str(k): v for k, v in self.populated.items()}
        out["added_at"] = None if self.added_at is None else str(self.added_at)
        out["line"] = self.line
        return out


@dataclass
class DriftReport:
    fields: list[FieldDrift] = field(default_factory=list)
    new_columns: list[NewColumn] = field(default_factory=list)


# --- catalog ---------------------------------------------------------------------------------


def raw_columns(conn: Connection, table: str) -> list[str]:
    rows = conn.execute(
        sa.text(
            "select attname from pg_attribute where attrelid = to_regclass(:t) "
            "and attnum > 0 and not attisdropped order by attnum"
        ),
        {"t": table},
    ).scalars()
    return [str(r) for r in rows]


def mapped_columns(conn: Connection, table: str) -> set[str]:
    """The columns of raw ``table`` read by a view in :data:`MODEL_SCHEMAS` (the dbt models)."""
    rows = conn.execute(
        sa.text(
            """
            select distinct a.attname
              from pg_depend as d
              join pg_rewrite as r on r.oid = d.objid
              join pg_class as v on v.oid = r.ev_class
              join pg_namespace as vn on vn.oid = v.relnamespace
              join pg_attribute as a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
             where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
               and d.refobjid = to_regclass(:t) and d.refobjsubid > 0
               and v.oid <> d.refobjid and vn.nspname = any(:schemas)
            """
        ),
        {"t": table, "schemas": list(MODEL_SCHEMAS)},
    ).scalars()
    return {str(r) for r in rows}


def json_columns(conn: Connection, table: str) -> set[str]:
    """The ``json``/``jsonb`` columns of raw ``table``."""
    rows = conn.execute(
        sa.text(
            "select attname from pg_attribute where attrelid = to_regclass(:t) "
            "and attnum > 0 and not attisdropped and atttypid in ('json'::regtype, "
            "'jsonb'::regtype)"
        ),
        {"t": table},
    ).scalars()
    return {str(r) for r in rows}


_KEY_READ = re.compile(r"->>?\s*'((?:[^']|'')+)'(?:::text)?")


def mapped_json_keys(conn: Connection, table: str) -> set[str]:
    """The JSON keys read (``->``/``->>`` with a literal key) by the model views over ``table``."""
    defs = conn.execute(
        sa.text(
            """
            select distinct pg_get_viewdef(v.oid)
              from pg_depend as d
              join pg_rewrite as r on r.oid = d.objid
              join pg_class as v on v.oid = r.ev_class
              join pg_namespace as vn on vn.oid = v.relnamespace
             where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
               and d.refobjid = to_regclass(:t) and v.oid <> d.refobjid
               and vn.nspname = any(:schemas)
            """
        ),
        {"t": table, "schemas": list(MODEL_SCHEMAS)},
    ).scalars()
    return {m.replace("''", "'") for text in defs for m in _KEY_READ.findall(str(text))}


def _populated_sql(label: str, table: str) -> str:
    """SQL counted for one judged label: a column, or ``column.key`` of a JSON column."""
    if "\x1f" in label:
        col, key = label.split("\x1f", 1)
        literal = key.replace("'", "''")
        return f"nullif(cast({ident(col, f'{table} column')} as jsonb) ->> '{literal}', '')"
    return ident(label, f"{table} column")


def _display(label: str) -> str:
    return label.replace("\x1f", ".")


def _judged_column(name: str) -> bool:
    return not name.startswith("_dlt") and name not in _IGNORED


def added_columns(conn: Connection, table: str, candidates: Sequence[str]) -> dict[str, tuple]:
    """Of ``candidates``, those dlt added after creating ``table``: ``{column: (first load id,
    added_at)}``, from the schema versions in ``<schema>._dlt_version``."""
    schema, name = split_table(table, "raw table")
    if not candidates or not table_exists(conn, f"{schema}._dlt_version"):
        return {}
    loads = table_exists(conn, f"{schema}._dlt_loads")
    first_load = (
        f"""(select min(l.load_id) from "{schema}"._dlt_loads as l
              where l.status = 0 and l.schema_version_hash in (
                    select v2.version_hash from versions as v2 where v2.cols -> c.col is not null))"""
        if loads
        else "null::text"
    )
    rows = conn.execute(
        sa.text(
            f"""
            with versions as (
                select v.version_hash, v.inserted_at,
                       cast(v.schema as jsonb) -> 'tables' -> :tbl -> 'columns' as cols
                  from "{schema}"._dlt_version as v
            ), created as (
                select min(inserted_at) as at from versions where cols is not null
            )
            select c.col, min(v.inserted_at) as added_at, {first_load} as first_load
              from unnest(cast(:cols as text[])) as c(col)
              join versions as v on v.cols -> c.col is not null
             group by c.col
            having min(v.inserted_at) > (select at from created)
            """
        ),
        {"tbl": name, "cols": list(candidates)},
    ).all()
    return {str(r[0]): (r[2], r[1]) for r in rows}


# --- loads and the summary -------------------------------------------------------------------


def _recent_loads(
    conn: Connection, spec: EntitySpec, user_ids: Sequence[int] | None
) -> dict[int, list[str]]:
    """Per agent, the newest successful loads of the entity (newest first)."""
    where = "and s.user_id = any(:users)" if user_ids else ""
    rows = conn.execute(
        sa.text(
            f"""
            select user_id, load_id from (
                select s.user_id, s.load_id,
                       row_number() over (partition by s.user_id
                                          order by max(s.ended_at) desc, s.load_id desc) as n
                  from ops.sync_runs as s
                 where s.source = :src and s.entity = :ent and s.status = 'done'
                   and s.load_id is not null {where}
                 group by s.user_id, s.load_id
            ) as t
             where n <= :k
             order by user_id, n
            """
        ),
        {"src": spec.source, "ent": spec.entity, "users": list(user_ids or []), "k": HISTORY_LOADS},
    ).all()
    out: dict[int, list[str]] = {}
    for user_id, load_id in rows:
        out.setdefault(int(user_id), []).append(str(load_id))
    return out


def _summary(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    loads: dict[int, list[str]],
) -> dict[int, dict[str, tuple[int, list[int]]]]:
    """``{agent: {load id: (rows, [count(col) for col in columns])}}`` over ``loads`` only.

    A committed load's rows do not change (raw is append-only), so what was read of a load once
    is kept in ``ops.drift_load_counts`` and only loads not read before (or read for fewer
    columns) are read from the raw table: a gate reads the day's loads, not the history. An
    update or delete of an agent's raw rows (recorded by the quality triggers, see
    :mod:`agentsync.quality.changes`) makes its kept counts unusable until read again.
    """
    if not loads:
        return {}
    wanted = {(u, lid) for u, ids in loads.items() for lid in ids}
    out: dict[int, dict[str, tuple[int, list[int]]]] = {}
    rewritten = _rewritten_agents(conn, table)
    kept = conn.execute(
        sa.text(
            "select user_id, load_id, rows, populated from ops.drift_load_counts "
            "where relation = :t and user_id = any(:u) and load_id = any(:l)"
        ),
        {"t": table, "u": sorted(loads), "l": sorted({lid for _, lid in wanted})},
    ).all()
    done: set[tuple[int, str]] = set()
    for user_id, load_id, rows, populated in kept:
        key = (int(user_id), str(load_id))
        if key not in wanted or rewritten is None or key[0] in rewritten:
            continue
        if int(rows) and not all(c in populated for c in columns):
            continue  # read before for fewer columns (a model reads a new one): read again
        out.setdefault(key[0], {})[key[1]] = (
            int(rows),
            [int(populated.get(c, 0)) for c in columns],
        )
        done.add(key)
    todo = wanted - done
    if not todo:
        return out
    counts = "".join(f", count({_populated_sql(c, table)})" for c in columns)
    sql = f"""
        select r.user_id, r._dlt_load_id, count(*){counts}
          from {qtable(table, "raw table")} as r
         where r._dlt_load_id = any(:loads) and r.user_id = any(:users)
         group by 1, 2
    """
    params = {
        "loads": sorted({lid for _, lid in todo}),
        "users": sorted({u for u, _ in todo}),
    }
    read: dict[tuple[int, str], tuple[int, list[int]]] = {}
    for row in conn.execute(sa.text(sql), params).all():
        key = (int(row[0]), str(row[1]))
        if key in todo:
            read[key] = (int(row[2]), [int(v) for v in row[3:]])
    for key in todo:
        rows, values = read.get(key, (0, [0] * len(columns)))
        if rows:
            out.setdefault(key[0], {})[key[1]] = (rows, values)
        conn.execute(
            sa.text(
                "insert into ops.drift_load_counts (relation, user_id, load_id, rows, populated) "
                "values (:t, :u, :l, :r, cast(:p as jsonb)) on conflict (relation, user_id, load_id)"
                " do update set rows = excluded.rows, populated = excluded.populated"
            ),
            {
                "t": table,
                "u": key[0],
                "l": key[1],
                "r": rows,
                "p": json.dumps(dict(zip(columns, values, strict=True))),
            },
        )
    return out


def _rewritten_agents(conn: Connection, table: str) -> set[int] | None:
    """Agents whose rows of ``table`` were updated or deleted and not yet counted again by a
    gate (None: the table was truncated): their kept load counts are not used."""
    if not table_exists(conn, "ops.quality_changes"):
        return None
    rows = conn.execute(
        sa.text(
            "select distinct user_id from ops.quality_changes "
            "where relation = :t and op <> 'INSERT'"
        ),
        {"t": table},
    ).scalars()
    users: set[int] = set()
    for user_id in rows:
        if user_id is None:
            return None
        users.add(int(user_id))
    return users


def _split(ordered: list[str], per_load: dict[str, tuple[int, list[int]]]) -> tuple[list, list]:
    """New and earlier loads (each newest first) of one agent, as in the module docstring."""
    present = [lid for lid in ordered if lid in per_load]
    for i, lid in enumerate(present):
        if per_load[lid][0] >= MIN_NEW_ROWS:
            return present[: i + 1], present[i + 1 :]
    return present, []


def _judge(counts: AgentField) -> str | None:
    if counts.new_rows < MIN_NEW_ROWS or counts.old_rows < MIN_HISTORY_ROWS:
        return None
    old_share = counts.old_populated / counts.old_rows
    if old_share < MIN_HISTORY_SHARE:
        return None
    if counts.new_populated == 0:
        return STOPPED
    if counts.new_populated / counts.new_rows < old_share * PARTIAL_RATIO:
        return DROPPING
    return None


def _took_over(counts: AgentField) -> bool:
    """A column populated reliably in the new rows that was not before (a renamed field)."""
    if counts.new_rows < MIN_NEW_ROWS:
        return False
    old_share = counts.old_populated / counts.old_rows if counts.old_rows else 0.0
    return old_share < MIN_HISTORY_SHARE <= counts.new_populated / counts.new_rows


def check_table(
    conn: Connection,
    spec: EntitySpec,
    user_ids: Sequence[int] | None = None,
    *,
    severity: str = "error",
    schema_versions: dict[str, str | None] | None = None,
) -> DriftReport:
    """Drift of one entity's raw table (see the module docstring).

    ``schema_versions``: the newest dlt schema version per raw schema, when the caller read them
    already (:func:`check_drift` reads each once for all its tables).
    """
    table = spec.raw_table
    split_table(table, f"{entity_key(spec)} raw_table")
    if not table_exists(conn, table):
        return DriftReport()
    mapped = mapped_columns(conn, table)
    if not mapped:  # no built model reads this table: nothing to judge against
        return DriftReport()
    existing = raw_columns(conn, table)
    if "_dlt_load_id" not in existing or "user_id" not in existing:
        return DriftReport()
    judged = [c for c in existing if c in mapped and _judged_column(c)]
    unmapped = [c for c in existing if c not in mapped and _judged_column(c)]

    # a JSON record column: the keys the models read from it are judged as fields of their own
    records = sorted(json_columns(conn, table) & set(judged))
    keys = sorted(mapped_json_keys(conn, table)) if records else []

    loads = _recent_loads(conn, spec, user_ids)
    inputs = [
        existing,
        sorted(mapped),
        records,
        keys,
        loads,
        severity,
        _schema_version(conn, table, schema_versions),
    ]
    inputs.append(sorted(r) if (r := _rewritten_agents(conn, table)) is not None else None)
    scope = ",".join(map(str, sorted(set(user_ids)))) if user_ids else "*"
    fingerprint = hashlib.sha256(json.dumps([_MEMO_FORMAT, *inputs]).encode()).hexdigest()
    kept = _kept_report(conn, table, scope, fingerprint)
    if kept is not None:
        return kept
    report = _judge_table(conn, spec, judged, unmapped, records, keys, loads, severity)
    _keep_report(conn, table, scope, fingerprint, report)
    return report


def _judge_table(
    conn: Connection,
    spec: EntitySpec,
    judged: list[str],
    unmapped: list[str],
    records: list[str],
    keys: list[str],
    loads: dict[int, list[str]],
    severity: str,
) -> DriftReport:
    """The judgement of :func:`check_table` once its inputs are read (see the module docstring)."""
    table = spec.raw_table
    added = added_columns(conn, table, [*judged, *unmapped])
    new_cols = [c for c in unmapped if c in added]
    judged = judged + [f"{c}\x1f{k}" for c in records for k in keys]
    # unmapped columns present from the start: only candidates for a field's new name
    others = [c for c in unmapped if c not in added]
    columns = judged + new_cols + others
    summary = _summary(conn, table, columns, loads) if columns else {}

    found: dict[tuple[str, str], FieldDrift] = {}
    populated: dict[str, dict[int, int]] = {c: {} for c in new_cols}
    for user_id, per_load in sorted(summary.items()):
        new, old = _split(loads[user_id], per_load)
        agent_found: list[tuple[str, str, AgentField]] = []
        takeover = False  # a mapped column dlt added later now carries what a stopped one did
        new_counts: dict[str, int] = {}
        new_rows = sum(per_load[lid][0] for lid in new)
        for i, col in enumerate(columns):
            new_pop = sum(per_load[lid][1][i] for lid in new)
            new_counts[col] = new_pop
            if col in populated:
                if new_pop:
                    populated[col][user_id] = new_pop
                continue
            if col in others:
                continue
            counts = AgentField(
                user_id,
                new_rows,
                new_pop,
                sum(per_load[lid][0] for lid in old),
                sum(per_load[lid][1][i] for lid in old),
                new,
            )
            if col in added and _took_over(counts):
                takeover = True
            kind = _judge(counts)
            if kind is not None:
                agent_found.append((col, kind, counts))
        if takeover:  # the change is mapped already (e.g. coalesce(name, full_name))
            continue
        plain = [c for c in judged if "\x1f" not in c]
        renamed = _renamed(
            conn, table, user_id, new, new_rows, new_counts, plain, new_cols + others
        )
        for col, replacement in renamed.items():
            counts = AgentField(user_id, new_rows, new_counts[col], 0, 0, new)
            item = found.setdefault(
                (col, RENAMED),
                FieldDrift(
                    spec.source, spec.entity, table, col, RENAMED, severity, [], replacement
                ),
            )
            item.agents.append(counts)
        agent_found = [f for f in agent_found if f[0] not in renamed]  # one report per field
        for col, kind, counts in agent_found:
            sev = severity if kind == STOPPED else "warn"
            item = found.setdefault(
                (col, kind),
                FieldDrift(spec.source, spec.entity, table, _display(col), kind, sev),
            )
            item.agents.append(counts)
    report = DriftReport(fields=[found[k] for k in sorted(found)])
    for col in new_cols:
        first_load, added_at = added[col]
        report.new_columns.append(NewColumn(table, col, first_load, added_at, populated[col]))
    for col in records:
        report.new_columns += _new_json_keys(conn, table, col, set(keys), loads, summary)
    return report


# --- the kept finding ----------------------------------------------------------------------------

#: bump when the judgement changes, so findings kept by an older version are judged again
_MEMO_FORMAT = 1


def _schema_version(
    conn: Connection, table: str, known: dict[str, str | None] | None = None
) -> str | None:
    """The newest schema version dlt recorded for ``table``'s dataset (which columns were added
    when: :func:`added_columns`); ``known`` holds those already read, by schema."""
    schema, _ = split_table(table, "raw table")
    if known is not None and schema in known:
        return known[schema]
    version = None
    if table_exists(conn, f"{schema}._dlt_version"):
        version = conn.execute(
            sa.text(
                f'select version_hash from "{schema}"._dlt_version '
                "order by inserted_at desc, version desc limit 1"
            )
        ).scalar()
    if known is not None:
        known[schema] = version
    return version


def _kept_report(conn: Connection, table: str, scope: str, fingerprint: str) -> DriftReport | None:
    """The finding kept for ``table`` and ``scope`` if its inputs are still ``fingerprint``."""
    if not table_exists(conn, "ops.drift_results"):
        return None
    kept = conn.execute(
        sa.text(
            "select report from ops.drift_results "
            "where relation = :t and scope = :s and fingerprint = :f"
        ),
        {"t": table, "s": scope, "f": fingerprint},
    ).scalar()
    if kept is None:
        return None
    return DriftReport(
        fields=[
            FieldDrift(**{**f, "agents": [AgentField(**a) for a in f["agents"]]})
            for f in kept["fields"]
        ],
        new_columns=[
            NewColumn(**{**c, "populated": {int(u): n for u, n in c["populated"].items()}})
            for c in kept["new_columns"]
        ],
    )


def _keep_report(
    conn: Connection, table: str, scope: str, fingerprint: str, report: DriftReport
) -> None:
    """Keep ``report`` as the finding for ``table`` and ``scope`` while ``fingerprint`` holds."""
    if not table_exists(conn, "ops.drift_results"):
        return
    body = {
        "fields": [asdict(f) for f in report.fields],
        "new_columns": [
            {**asdict(c), "populated": {str(u): n for u, n in c.populated.items()}}
            for c in report.new_columns
        ],
    }
    conn.execute(
        sa.text(
            "insert into ops.drift_results (relation, scope, fingerprint, report) "
            "values (:t, :s, :f, cast(:r as jsonb)) on conflict (relation, scope) do update "
            "set fingerprint = excluded.fingerprint, report = excluded.report, checked_at = now()"
        ),
        {"t": table, "s": scope, "f": fingerprint, "r": json.dumps(body, default=str)},
    )


def _renamed(
    conn: Connection,
    table: str,
    user_id: int,
    new: list[str],
    new_rows: int,
    new_counts: dict[str, int],
    mapped: Sequence[str],
    unmapped: Sequence[str],
) -> dict[str, str]:
    """Mapped columns that a field under a new name replaced in part of the new loads.

    Needs no history, so it also holds for an onboarding whose first pages came under the old
    name and later ones under the new (or the reverse): a mapped column populated in at least
    :data:`MIN_NEW_ROWS` new rows and null in at least as many, and an unmapped column populated
    in exactly the rows where the mapped one is null (the same count, never both in one row, so
    every row has one of the two). Two unrelated sparse fields that partition the rows exactly
    would match too; mapping the new name (``coalesce(old, new)``) ends the report.
    """
    out: dict[str, str] = {}
    pairs = [
        (m, u)
        for m in mapped
        if new_counts.get(m, 0) >= MIN_NEW_ROWS and new_rows - new_counts[m] >= MIN_NEW_ROWS
        for u in unmapped
        if new_counts.get(u, 0) == new_rows - new_counts[m]
    ]
    if not pairs:
        return out
    both = ", ".join(
        f"count(*) filter (where {ident(m, 'column')} is not null "
        f"and {ident(u, 'column')} is not null)"
        for m, u in pairs
    )
    row = conn.execute(
        sa.text(
            f"select {both} from {qtable(table, 'raw table')} "
            "where user_id = :u and _dlt_load_id = any(:loads)"
        ),
        {"u": user_id, "loads": list(new)},
    ).one()
    for (m, u), overlap in zip(pairs, row, strict=True):
        if overlap == 0 and m not in out:
            out[m] = u
    return out


def _new_json_keys(
    conn: Connection,
    table: str,
    col: str,
    mapped: set[str],
    loads: dict[int, list[str]],
    summary: dict[int, dict[str, tuple[int, list[int]]]],
) -> list[NewColumn]:
    """Top-level keys of JSON record ``col`` in the agents' new loads that none of their earlier
    loads had and no model reads: a JSON source's "new raw column" (only the loads compared
    are read, so the cost follows the change)."""
    new_pairs, old_pairs = [], []
    for user_id, per_load in summary.items():
        new, old = _split(loads[user_id], per_load)
        new_pairs += [f"{user_id}|{lid}" for lid in new]
        old_pairs += [f"{user_id}|{lid}" for lid in old]
    if not new_pairs or not old_pairs:  # no history: nothing is new yet
        return []
    record = f"cast({ident(col, f'{table} column')} as jsonb)"
    rows = conn.execute(
        sa.text(
            f"""
            with r as (
                select t.user_id, t._dlt_load_id as load_id,
                       (cast(t.user_id as text) || '|' || t._dlt_load_id) = any(:new) as is_new,
                       {record} as rec
                  from {qtable(table, "raw table")} as t
                 where (cast(t.user_id as text) || '|' || t._dlt_load_id) = any(:pairs)
            )
            select k.key, r.user_id, bool_or(r.is_new), bool_or(not r.is_new),
                   count(*) filter (where r.is_new and r.rec ->> k.key is not null),
                   min(r.load_id) filter (where r.is_new)
              from r, jsonb_object_keys(
                        case when jsonb_typeof(r.rec) = 'object' then r.rec else '{{}}' end
                      ) as k(key)
             group by k.key, r.user_id
            """
        ),
        {"new": new_pairs, "pairs": new_pairs + old_pairs},
    ).all()
    seen_before = {str(r[0]) for r in rows if r[3]}
    out: dict[str, NewColumn] = {}
    for key, user_id, in_new, _, populated, first in rows:
        key = str(key)
        if not in_new or key in seen_before or key in mapped:
            continue
        item = out.setdefault(key, NewColumn(table, f"{col}.{key}", None, None))
        if first is not None:
            item.first_load_id = min(x for x in (item.first_load_id, str(first)) if x)
        if populated:
            item.populated[int(user_id)] = int(populated)
    return [out[k] for k in sorted(out)]


def check_drift(
    conn: Connection,
    entities: Sequence[EntitySpec],
    user_ids: Sequence[int] | None = None,
    *,
    severity: str = "error",
) -> DriftReport:
    """Drift of every entity's raw table (each table once), for ``user_ids`` (None: all)."""
    report = DriftReport()
    seen: set[str] = set()
    versions: dict[str, str | None] = {}
    for spec in entities:
        if spec.raw_table in seen:
            continue
        seen.add(spec.raw_table)
        part = check_table(conn, spec, user_ids, severity=severity, schema_versions=versions)
        report.fields += part.fields
        report.new_columns += part.new_columns
    return report


def new_unmapped_columns(conn: Connection, entities: Sequence[EntitySpec]) -> list[NewColumn]:
    """Only the catalog side (no raw rows read): new raw columns no model reads."""
    out: list[NewColumn] = []
    seen: set[str] = set()
    for spec in entities:
        table = spec.raw_table
        if table in seen or not table_exists(conn, table):
            continue
        seen.add(table)
        mapped = mapped_columns(conn, table)
        if not mapped:
            continue
        unmapped = [c for c in raw_columns(conn, table) if c not in mapped and _judged_column(c)]
        for col, (first_load, added_at) in sorted(added_columns(conn, table, unmapped).items()):
            out.append(NewColumn(table, col, first_load, added_at))
    return out
