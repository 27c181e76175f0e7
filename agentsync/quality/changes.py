"""Which agents' rows of an entity changed since the quality gate last counted them.

The gate's counts (:func:`agentsync.quality.metrics.counts_sql`) read three relations per entity:
its raw table, its final table and ``ops.quarantine``. The database records every change to them
(migration ``0010_quality_changes``): statement-level triggers append ``(entity, user_id)`` to
``ops.quality_changes`` for each agent a statement inserted, updated or deleted rows of, and
``(entity, null)`` — every agent — for a ``TRUNCATE``. That holds whoever writes: dlt, dbt, a
webhook worker, a person fixing a row by hand.

The triggers on raw and final tables are installed here, at the gate, because those tables come
and go (dlt creates a raw table on its first load; ``dbt --full-refresh`` re-creates a mart
without them). A table without its triggers, or with them disabled, cannot say what changed, so
the entity is counted again for every agent and the triggers are (re)installed in the same
transaction: nothing that changed before is missed, and everything after is recorded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentsync.contracts import EntitySpec
from agentsync.quality.metrics import entity_key, qtable, split_table

#: one trigger per statement kind (a transition table belongs to one kind of statement)
_TRIGGERS = {
    "ins": ("insert", "referencing new table as changed_rows", "ops.agentsync_note_rows"),
    "del": ("delete", "referencing old table as changed_rows", "ops.agentsync_note_rows"),
    "upd": (
        "update",
        "referencing old table as old_rows new table as changed_rows",
        "ops.agentsync_note_updated_rows",
    ),
    "trunc": ("truncate", "", "ops.agentsync_note_truncate"),
}


def trigger_name(spec: EntitySpec, kind: str) -> str:
    """``agq_<source>_<entity>_<kind>``, cut to PostgreSQL's 63 bytes with a hash if needed."""
    base = re.sub(r"[^a-z0-9_]", "_", f"agq_{spec.source}_{spec.entity}".lower())
    name = f"{base}_{kind}"
    if len(name) > 63:
        digest = hashlib.sha256(entity_key(spec).encode()).hexdigest()[:8]
        name = f"{base[: 63 - len(kind) - 10]}_{digest}_{kind}"
    return name


def watched_tables(spec: EntitySpec) -> list[str]:
    """The tables whose changes the entity's counts depend on, besides ``ops.quarantine``."""
    tables = [spec.raw_table]
    if spec.mart is not None and spec.mart != spec.raw_table:
        tables.append(spec.mart)
    return tables


def _has_user_id(conn: Connection, table: str) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "select 1 from pg_attribute where attrelid = to_regclass(:t) "
                "and attname = 'user_id' and not attisdropped"
            ),
            {"t": table},
        ).scalar()
    )


def _enabled_triggers(conn: Connection, table: str) -> set[str]:
    rows = conn.execute(
        sa.text(
            "select tgname from pg_trigger where tgrelid = to_regclass(:t) "
            "and not tgisinternal and tgenabled <> 'D'"
        ),
        {"t": table},
    ).scalars()
    return {str(r) for r in rows}


def ensure_triggers(conn: Connection, spec: EntitySpec) -> bool:
    """Install the entity's change triggers on its existing raw and final tables.

    Returns:
        True when every existing watched table already had all of them, enabled: the changes
        recorded since the last count are complete. False when any was missing (a new or
        re-created table, a disabled trigger): the caller must count every agent again.
    """
    complete = True
    key = entity_key(spec)
    for table in watched_tables(spec):
        split_table(table, f"{key} table")
        if conn.execute(sa.text("select to_regclass(:t)"), {"t": table}).scalar() is None:
            continue  # read as empty; its creation changes the counts query (a full count)
        if not _has_user_id(conn, table):
            complete = False  # no agent to record a change for: count every agent, every run
            continue
        present = _enabled_triggers(conn, table)
        for kind, (event, referencing, function) in _TRIGGERS.items():
            name = trigger_name(spec, kind)
            if name in present:
                continue
            complete = False
            target = qtable(table, f"{key} table")
            conn.execute(sa.text(f'drop trigger if exists "{name}" on {target}'))
            conn.execute(
                sa.text(
                    f'create trigger "{name}" after {event} on {target} {referencing} '
                    f"for each statement execute function {function}('{key}')"
                )
            )
    return complete


@dataclass
class Changes:
    """What was recorded for an entity since the last count.

    ``users``: the agents whose counts must be recomputed (``None``: every agent, a truncate).
    ``rewritten``: agents whose *raw* rows were updated or deleted (raw is append-only, so this
    is a repair or tampering): what the drift check remembered of their loads is forgotten
    (``None``: every agent's).
    """

    users: set[int] | None
    rewritten: set[int] | None


def take_changes(conn: Connection, spec: EntitySpec) -> Changes:
    """Remove and return what was recorded for ``spec`` (committed changes only; one still
    being written stays for the next gate)."""
    rows = conn.execute(
        sa.text(
            "delete from ops.quality_changes where entity = :e returning user_id, relation, op"
        ),
        {"e": entity_key(spec)},
    ).all()
    users: set[int] | None = set()
    rewritten: set[int] | None = set()
    for user_id, relation, op in rows:
        if user_id is None:
            users = None
        elif users is not None:
            users.add(int(user_id))
        if relation == spec.raw_table and op != "INSERT":
            if user_id is None:
                rewritten = None
            elif rewritten is not None:
                rewritten.add(int(user_id))
    return Changes(users, rewritten)


def forget_load_counts(conn: Connection, table: str, users: set[int] | None) -> None:
    """Forget what the drift check read of ``table``'s loads for ``users`` (None: all agents),
    and the findings it kept for the table (``ops.drift_results``), which were judged from them."""
    if users is None or users:
        conn.execute(sa.text("delete from ops.drift_results where relation = :t"), {"t": table})
    if users is None:
        conn.execute(sa.text("delete from ops.drift_load_counts where relation = :t"), {"t": table})
    elif users:
        conn.execute(
            sa.text("delete from ops.drift_load_counts where relation = :t and user_id = any(:u)"),
            {"t": table, "u": sorted(users)},
        )


def discard_changes(conn: Connection, spec: EntitySpec) -> None:
    """Forget what was recorded for ``spec``: the caller is counting every agent."""
    conn.execute(
        sa.text("delete from ops.quality_changes where entity = :e"), {"e": entity_key(spec)}
    )
