"""FUB deletion detection that costs the change: a count proves "nothing deleted", ids are walked
only when something may be, and only what changed is stored.

FUB's lists never show a deleted record (it just disappears), so deletions are found by
comparing what we hold with what FUB serves. For one agent and entity:

- **K**, the ids we hold as live: every id with a version in ``raw_fub.<entity>`` or a
  quarantined record, unless the newest evidence about it says it is gone. Evidence, newest
  load wins: a raw version or a ``back`` change (live); a ``gone`` change or a ``*Deleted``
  webhook (``raw_fub.deleted_ids``) (gone).
- **T**, FUB's ``_metadata.total`` taken by the entity's latest successful stream run *before*
  its extract began (``ops.sync_runs.reported_total``; the extract then read every record
  created before that moment, so FUB's live set then is a subset of K).

**Count proof.** If ``|K| == T`` the two sets are equal: nothing we hold had been deleted when
T was taken. No request, no rows. |K| is counted in the database and kept
(``ops.fub_held_counts``) until a row of the agent's evidence for the entity is written (a
per-agent mark moved by triggers on the tables it reads, ``ops.fub_evidence_marks``), so a check
reads no raw row when nothing of that agent's landed since its last check.
A record created after T was taken makes ``|K| > T``, a deletion or a record we never received
makes them differ the other way: either way, walk.

**Walk.** The full id set (``fields=id``), refused when its size differs from the total FUB
reports alongside (a lost page of ids must never look like deletions). Stored are only the
changes, in ``raw_fub.id_changes`` (``user_id, entity, id, change, observed_at``): ``gone`` for
ids in K that FUB no longer serves, ``back`` for ids held as gone that FUB serves again. Ids FUB
serves that we never received are logged (the next incremental run or reconciliation finds
them), never stored as changes.

**Earlier full snapshots** (``raw_fub.id_snapshots`` / ``id_snapshot_runs``, one full id set per
check, from before this module) are migrated on the agent's next check: that check walks,
records every id missing from FUB as ``gone``, then deletes the agent's snapshot rows for the
entity. The marts still read them for agents not yet checked since.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from agentsync import db
from dlt_pipelines.fub.settings import Stream

log = logging.getLogger(__name__)

DATASET = "raw_fub"
CHANGES_TABLE = "id_changes"
LEGACY_TABLES = ("id_snapshots", "id_snapshot_runs")


# its columns: dlt_pipelines.fub.columns.TABLES["id_changes"]
@dataclass(frozen=True)
class HeldIds:
    """What we hold for one agent and entity: live ids, ids held as gone, legacy snapshots."""

    live: frozenset[int]
    gone: frozenset[int]
    legacy_snapshots: bool


@dataclass(frozen=True)
class IdCheck:
    """One deletion check's outcome.

    Attributes:
        method: ``count`` (proved by the count) or ``walk`` (ids walked).
        held: |K|.
        total: FUB's total the check compared with (the walk's own total when it walked).
        gone, back: the changes found (empty for ``count``).
        unknown: ids FUB serves that we never received (walk only).
        why_walk: why the count did not prove it (None for ``count``).
    """

    method: str
    held: int
    total: int | None
    gone: tuple[int, ...] = ()
    back: tuple[int, ...] = ()
    unknown: int = 0
    why_walk: str | None = None

    def describe(self) -> str:
        if self.method == "count":
            return f"{self.held} held = {self.total} served: nothing deleted (count proof)"
        return (
            f"walked {self.total} ids ({self.why_walk}): {len(self.gone)} gone, "
            f"{len(self.back)} back, {self.unknown} served but never received"
        )


def _exists(conn, table: str) -> bool:
    return (
        conn.execute(text("select to_regclass(:t)"), {"t": f"{DATASET}.{table}"}).scalar()
        is not None
    )


def _has_legacy(conn, user_id: int, entity: str) -> bool:
    """Whether earlier full snapshots of the agent's ids exist (migrated by the next walk)."""
    return all(_exists(conn, t) for t in LEGACY_TABLES) and bool(
        conn.execute(
            text(
                f"select 1 from {DATASET}.id_snapshot_runs "
                "where user_id = :u and entity = :e limit 1"
            ),
            {"u": user_id, "e": entity},
        ).first()
    )


def _evidence(conn, user_id: int, entity: str) -> str:
    """The newest evidence about each id we hold (``id, live``; see the module docstring) as
    one SQL statement over ``:u`` and ``:e``."""
    has_raw = _exists(conn, entity)
    has_changes = _exists(conn, CHANGES_TABLE)
    has_hooks = _exists(conn, "deleted_ids")
    parts: list[str] = [
        # quarantined records are held: FUB serves them, we keep them aside with a reason
        """
        select cast(record_id as bigint) as id, 1 as live,
               coalesce(cast(nullif(load_id, '') as numeric), 0) as load_id
          from ops.quarantine
         where user_id = :u and source = 'fub' and entity = :e
           and record_id ~ '^[0-9]{1,18}$'
        """
    ]
    if has_raw:
        parts.append(
            f"""
            select id, 1 as live, max(cast(_dlt_load_id as numeric)) as load_id
              from {DATASET}.{entity} where user_id = :u group by id
            """
        )
    if has_changes:
        parts.append(
            f"""
            select id, case when change = 'back' then 1 else 0 end as live,
                   cast(_dlt_load_id as numeric) as load_id
              from {DATASET}.{CHANGES_TABLE} where user_id = :u and entity = :e
            """
        )
    if has_hooks:
        parts.append(
            f"""
            select id, 0 as live, cast(_dlt_load_id as numeric) as load_id
              from {DATASET}.deleted_ids where user_id = :u and entity = :e
            """
        )
    sql = (
        "select distinct on (id) id, live from ("
        + " union all ".join(parts)
        + ") as evidence order by id, load_id desc, live asc"
    )
    return sql


def held_ids(user_id: int, entity: str) -> HeldIds:
    """K and the ids held as gone, for one agent and entity (see module docstring)."""
    return marked_held_ids(user_id, entity)[0]


def marked_held_ids(user_id: int, entity: str) -> tuple[HeldIds, Mark]:
    """:func:`held_ids` and the evidence's mark read just before them (what a walk registers
    with the count it leaves, :func:`keep_walked_count`)."""
    with db.begin() as conn:
        mark = _evidence_mark(conn, user_id, entity)
    with db.begin() as conn:
        sql = _evidence(conn, user_id, entity)
        has_legacy = _has_legacy(conn, user_id, entity)
        rows = conn.execute(text(sql), {"u": user_id, "e": entity}).all()
    live = frozenset(int(r.id) for r in rows if r.live)
    gone = frozenset(int(r.id) for r in rows if not r.live)
    return HeldIds(live, gone, has_legacy), mark


#: the tables the count proof reads besides ``raw_fub.<entity>``; their rows carry the entity
EVIDENCE_TABLES = (f"{DATASET}.{CHANGES_TABLE}", f"{DATASET}.deleted_ids", "ops.quarantine")
#: one trigger per statement kind (a transition table belongs to one kind of statement)
_MARK_TRIGGERS = {
    "agfub_ins": ("insert", "referencing new table as changed_rows", "agentsync_fub_mark_rows"),
    "agfub_del": ("delete", "referencing old table as changed_rows", "agentsync_fub_mark_rows"),
    "agfub_upd": (
        "update",
        "referencing old table as old_rows new table as changed_rows",
        "agentsync_fub_mark_updated_rows",
    ),
    "agfub_trunc": ("truncate", "", "agentsync_fub_mark_truncate"),
}


def _ensure_mark_triggers(conn, entity: str) -> str:
    """Install the evidence-mark triggers (migration ``0015_fub_evidence_marks``) where they are
    missing or disabled, and return which tables exist (their oids: a table dropped or created
    since a count changes the mark).

    A table that lacked one may have had rows written that moved no mark: every kept count
    those rows may concern is forgotten (the entity's, or every entity's for a table whose rows
    carry their entity), in the same transaction, so the next checks count again."""
    tables = [(f"{DATASET}.{entity}", entity), *((t, None) for t in EVIDENCE_TABLES)]
    found = conn.execute(
        text(
            """
            select t.name, to_regclass(t.name)::oid as oid,
                   array(select tgname::text from pg_trigger
                          where tgrelid = to_regclass(t.name) and not tgisinternal
                            and tgenabled <> 'D') as present
              from unnest(cast(:names as text[])) with ordinality as t(name, n)
             order by t.n
            """
        ),
        {"names": [name for name, _ in tables]},
    ).all()
    for (table, arg), row in zip(tables, found, strict=True):
        if row.oid is None or set(_MARK_TRIGGERS) <= set(row.present):
            continue
        schema, name = table.split(".")
        argument = f"'{arg}'" if arg is not None else ""
        for trigger, (event, referencing, function) in _MARK_TRIGGERS.items():
            if trigger == "agfub_ins" and table == f"{DATASET}.{CHANGES_TABLE}":
                # a walk's count is handed over by its changes' load (keep_walked_count)
                function = "agentsync_fub_mark_walk"
            conn.execute(
                text(
                    f'create or replace trigger {trigger} after {event} on "{schema}"."{name}" '
                    f"{referencing} for each statement execute function "
                    f"ops.{function}({argument})"
                )
            )
        conn.execute(
            text("delete from ops.fub_held_counts where cast(:e as text) is null or entity = :e"),
            {"e": arg},
        )
        log.info("deletion check: evidence-mark triggers installed on %s", table)
    return ",".join(str(row.oid or "-") for row in found)


@dataclass(frozen=True)
class Mark:
    """The evidence's mark (:func:`_evidence_mark`): which evidence tables exist, the agent's
    counter."""

    tables: str
    seq: int

    def __str__(self) -> str:
        return f"{self.tables}/{self.seq}"


def _evidence_mark(conn, user_id: int, entity: str) -> Mark:
    """What changes whenever the evidence about the agent's ids may have: the agent's counter
    in ``ops.fub_evidence_marks`` (moved by the triggers on every table the proof reads, for
    the agents a statement wrote; see migration ``0015_fub_evidence_marks``) and which of
    those tables exist. Another agent's load leaves it as it is."""
    tables = _ensure_mark_triggers(conn, entity)
    conn.execute(
        text(
            "insert into ops.fub_evidence_marks (user_id, entity) values (:u, :e) "
            "on conflict (user_id, entity) do nothing"
        ),
        {"u": user_id, "e": entity},
    )  # a row to move: a TRUNCATE moves only existing rows
    seq = conn.execute(
        text("select seq from ops.fub_evidence_marks where user_id = :u and entity = :e"),
        {"u": user_id, "e": entity},
    ).scalar_one()
    return Mark(tables, int(seq))


def held_count(user_id: int, entity: str) -> tuple[int, bool]:
    """|K| (counted in the database: the count proof needs no id) and whether earlier full
    snapshots exist. The same evidence as :func:`held_ids`, without sending every id to Python
    and building sets of them: 5-7 times faster for a 100k-person agent, every day.

    The count is kept in ``ops.fub_held_counts`` with the evidence's mark
    (:func:`_evidence_mark`) and reused while the mark holds: no row of the agent's evidence
    for the entity written, by anyone, since its last count. The mark is read (and committed)
    before counting, so a write committed meanwhile only makes the kept count newer than its
    mark says, and the next check counts again."""
    with db.begin() as conn:
        mark = str(_evidence_mark(conn, user_id, entity))
        has_legacy = _has_legacy(conn, user_id, entity)
        kept = conn.execute(
            text(
                "select held from ops.fub_held_counts "
                "where user_id = :u and entity = :e and mark = :m"
            ),
            {"u": user_id, "e": entity, "m": mark},
        ).scalar()
    if kept is not None:
        return int(kept), has_legacy
    with db.begin() as conn:
        sql = _evidence(conn, user_id, entity)
        live = conn.execute(
            text(f"select count(*) from ({sql}) as newest where live = 1"),
            {"u": user_id, "e": entity},
        ).scalar_one()
        conn.execute(
            text(
                "insert into ops.fub_held_counts (user_id, entity, mark, held) "
                "values (:u, :e, :m, :n) on conflict (user_id, entity) do update "
                "set mark = excluded.mark, held = excluded.held, counted_at = now()"
            ),
            {"u": user_id, "e": entity, "m": mark, "n": live},
        )
    return int(live), has_legacy


def keep_walked_count(
    user_id: int, entity: str, mark: Mark, held: int, changes: list[dict] | None = None
) -> None:
    """After a walk: keep |K| as it will be once ``changes`` (its id_changes rows, all with one
    ``observed_at``) have landed, so the next check needs no count.

    Without changes, |K| is what the walk held, kept with the mark read before reading it.
    With changes, their load moves the mark: the count is registered in
    ``ops.fub_walk_counts`` with the mark read before the walk read what it held, and the
    trigger on ``raw_fub.id_changes`` keeps it only if the statement that lands them holds
    exactly those rows and nothing else moved the agent's mark in between (migration
    ``0015_fub_evidence_marks``). Either way any count kept before is forgotten first."""
    forget_held_count(user_id, entity)
    with db.begin() as conn:
        if not changes:
            conn.execute(
                text(
                    "insert into ops.fub_held_counts (user_id, entity, mark, held) "
                    "values (:u, :e, :m, :n) on conflict (user_id, entity) do update "
                    "set mark = excluded.mark, held = excluded.held, counted_at = now()"
                ),
                {"u": user_id, "e": entity, "m": str(mark), "n": held},
            )
            return
        [observed] = {row["observed_at"] for row in changes}
        conn.execute(
            text(
                "insert into ops.fub_walk_counts "
                "(user_id, entity, seq, tables, observed_at, changes, held) "
                "values (:u, :e, :s, :t, :o, :c, :n) on conflict (user_id, entity) do update "
                "set seq = excluded.seq, tables = excluded.tables, "
                "observed_at = excluded.observed_at, changes = excluded.changes, "
                "held = excluded.held"
            ),
            {
                "u": user_id,
                "e": entity,
                "s": mark.seq,
                "t": mark.tables,
                "o": observed,
                "c": len(changes),
                "n": held,
            },
        )


def forget_held_count(user_id: int, entity: str) -> None:
    """Count |K| again at the next check (after a walk: the count it did not prove may be
    one the raw tables no longer give, e.g. rows changed outside a load)."""
    with db.begin() as conn:
        conn.execute(
            text("delete from ops.fub_held_counts where user_id = :u and entity = :e"),
            {"u": user_id, "e": entity},
        )


def latest_count(user_id: int, entity: str) -> int | None:
    """T: FUB's total from the entity's latest successful stream run (taken before its extract)."""
    with db.begin() as conn:
        return conn.execute(
            text(
                """
                select reported_total from ops.sync_runs
                 where user_id = :u and source = 'fub' and entity = :e and status = 'done'
                   and reported_total is not null
                 order by run_id desc limit 1
                """
            ),
            {"u": user_id, "e": entity},
        ).scalar()


def why_walk(held: int, legacy_snapshots: bool, total: int | None) -> str | None:
    """Why the count of ids held (``held``, |K|) cannot prove "nothing deleted" (None: it
    does)."""
    if legacy_snapshots:
        return "earlier full snapshots to migrate"
    if total is None:
        return "no total from the latest stream run"
    if held != total:
        return f"{held} held, {total} served"
    return None


def compare(held: HeldIds, served: Iterable[int]) -> tuple[list[int], list[int], int]:
    """(gone, back, unknown) of a walk: held ids not served, gone ids served again, and how
    many served ids we never received."""
    walked = set(served)
    gone = sorted(held.live - walked)
    back = sorted(held.gone & walked)
    unknown = len(walked - held.live - held.gone)
    return gone, back, unknown


def change_rows(
    user_id: int, entity: str, gone: list[int], back: list[int], observed: datetime | None = None
) -> list[dict]:
    at = observed or datetime.now(UTC)
    return [
        {"user_id": user_id, "entity": entity, "id": i, "change": c, "observed_at": at}
        for c, ids in (("gone", gone), ("back", back))
        for i in ids
    ]


def drop_legacy(user_id: int, entity: str) -> int:
    """Delete the agent's earlier full snapshots of one entity (after a walk migrated them)."""
    removed = 0
    with db.begin() as conn:
        for table in LEGACY_TABLES:
            if _exists(conn, table):
                removed += conn.execute(
                    text(f"delete from {DATASET}.{table} where user_id = :u and entity = :e"),
                    {"u": user_id, "e": entity},
                ).rowcount
    return removed


def walk_ids(client, stream: Stream) -> tuple[list[int], int | None]:
    """Every id FUB serves for ``stream`` and the total it reported; a walk whose size differs
    from that total is refused (a lost page would otherwise look like deletions)."""
    ids: set[int] = set()
    total: int | None = None
    for i, page in enumerate(client.pages(stream, {"fields": "id"})):
        if i == 0:
            total = page.total
        for rec in page.records:
            rid = rec.get("id") if isinstance(rec, dict) else None
            if isinstance(rid, int) and not isinstance(rid, bool):
                ids.add(rid)
    if total is not None and len(ids) != total:
        raise RuntimeError(
            f"{stream.name} id walk has {len(ids)} ids but FUB reported {total}; "
            "nothing recorded (would flag false deletions)"
        )
    return sorted(ids), total
