"""What a flow's dbt build has to do: the raw tables that received committed loads since the last
build, and the dbt selection of the models downstream of them — per table (entity), not per source.

A load is *pending* while it is committed in ``<raw schema>._dlt_loads`` (status 0) and not listed
in ``ops.dbt_built_loads``. The tables a pending load touched are found in raw itself (each root
table's ``_dlt_load_id``, indexed by the dbt project's on-run-start), so the answer does not depend
on who made the load (a sync, a webhook, a package dlt retried from a killed run). A source table
whose rows name the entity they are about (``meta: {agentsync_entity_column: entity}`` in the
sources yml: FUB's ``id_changes`` and ``deleted_ids``, read by the marts' deletion post-hooks)
selects that entity's table instead of itself.

The selection is ``source:<source>.<table>+`` for every touched table. When a model that build
reads would be missing (a first build, a new model), it is ``@source:<source>.<table>`` instead:
also the models the selected ones read, so a mart that joins another source's model finds it
built.

After the build succeeds, :func:`mark_built` lists the loads; a failed build lists none, so the
next build selects them again (the marts' own processed-load state makes that idempotent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from agentsync import db
from agentsync.transform import PROJECT_DIR, target_dir

log = logging.getLogger(__name__)

ENTITY_COLUMN_META = "agentsync_entity_column"


@dataclass(frozen=True)
class SourceTables:
    """One dbt source (a raw schema): its declared tables, and which of them name an entity."""

    name: str
    schema: str
    tables: frozenset[str]
    entity_columns: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Plan:
    """What the next build has to do.

    Attributes:
        loads: the pending loads, ``(raw schema, load id)``.
        tables: ``(raw schema, table)`` the pending loads wrote rows to (entity tables resolved).
        select: the dbt ``--select`` terms (empty: nothing to build).
    """

    loads: list[tuple[str, str]]
    tables: list[tuple[str, str]]
    select: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "loads": len(self.loads),
            "tables": [f"{s}.{t}" for s, t in self.tables],
            "select": self.select,
        }


@lru_cache(maxsize=1)
def declared_sources(project_dir: Path = PROJECT_DIR) -> dict[str, SourceTables]:
    """The dbt sources of the project by raw schema, read from the staging folders' yml."""
    found: dict[str, SourceTables] = {}
    for path in sorted((project_dir / "models").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for src in doc.get("sources") or []:
            schema = src.get("schema", src["name"])
            tables = src.get("tables") or []
            found[schema] = SourceTables(
                name=src["name"],
                schema=schema,
                tables=frozenset(t.get("identifier", t["name"]) for t in tables),
                entity_columns={
                    t.get("identifier", t["name"]): t["meta"][ENTITY_COLUMN_META]
                    for t in tables
                    if ENTITY_COLUMN_META in (t.get("meta") or {})
                },
            )
    return found


def pending(conn: sa.Connection, schemas: Iterable[str]) -> list[tuple[str, str]]:
    """Committed loads of these raw schemas not yet listed as built, oldest first."""
    out: list[tuple[str, str]] = []
    for schema in schemas:
        if conn.execute(sa.text("select to_regclass(:t)"), {"t": f"{schema}._dlt_loads"}).scalar():
            rows = conn.execute(
                sa.text(
                    f'select l.load_id from "{schema}"._dlt_loads as l '
                    "where l.status = 0 and not exists (select 1 from ops.dbt_built_loads as b "
                    "where b.schema_name = :s and b.load_id = l.load_id) order by l.load_id"
                ),
                {"s": schema},
            )
            out += [(schema, r[0]) for r in rows]
    return out


def _root_tables(conn: sa.Connection, schema: str) -> list[str]:
    """Tables of a raw schema that carry ``_dlt_load_id`` (dlt's root tables; nested ones don't)."""
    rows = conn.execute(
        sa.text(
            "select c.table_name from information_schema.columns as c "
            "join information_schema.tables as t on t.table_schema = c.table_schema "
            "and t.table_name = c.table_name and t.table_type = 'BASE TABLE' "
            "where c.table_schema = :s and c.column_name = '_dlt_load_id' "
            "and left(c.table_name, 5) <> '_dlt_' order by 1"
        ),
        {"s": schema},
    )
    return [r[0] for r in rows]


def touched_tables(
    conn: sa.Connection, loads: list[tuple[str, str]], sources: dict[str, SourceTables]
) -> list[tuple[str, str]]:
    """The declared source tables the loads wrote rows to; a nested table ``<t>__x`` counts as
    touched with its root ``t``; an entity-naming table stands for the entities its rows name."""
    by_schema: dict[str, list[str]] = {}
    for schema, load_id in loads:
        by_schema.setdefault(schema, []).append(load_id)
    touched: set[tuple[str, str]] = set()
    for schema, ids in by_schema.items():
        source = sources.get(schema)
        if source is None:
            continue
        for table in _root_tables(conn, schema):
            column = source.entity_columns.get(table)
            quoted = f'"{schema}"."{table}"'
            if column:
                rows = conn.execute(
                    sa.text(
                        f'select distinct "{column}" from {quoted} where _dlt_load_id = any(:ids)'
                    ),
                    {"ids": ids},
                )
                named = {str(r[0]) for r in rows if r[0] is not None}
            else:
                hit = conn.execute(
                    sa.text(
                        f"select exists (select 1 from {quoted} where _dlt_load_id = any(:ids))"
                    ),
                    {"ids": ids},
                ).scalar()
                named = {table} if hit else set()
            for name in named:
                touched |= {
                    (schema, t) for t in source.tables if t == name or t.startswith(f"{name}__")
                }
    return sorted(touched)


def _manifest() -> dict[str, Any] | None:
    """The manifest dbt last wrote in this data dir (None before any dbt run here)."""
    path = target_dir() / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _existing_relations(conn: sa.Connection) -> set[str]:
    rows = conn.execute(
        sa.text(
            "select n.nspname || '.' || c.relname from pg_class as c "
            "join pg_namespace as n on n.oid = c.relnamespace where c.relkind in ('r', 'v', 'm', 'p')"
        )
    )
    return {r[0] for r in rows}


def _closure(start: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def missing_parents(
    manifest: dict[str, Any], roots: Iterable[str], existing: set[str]
) -> list[str]:
    """Models a ``<roots>+`` build reads but would not build, and which do not exist: the
    ancestors (through ephemeral models) of everything downstream of ``roots``, minus that."""
    nodes = manifest.get("nodes", {})
    downstream = _closure(roots, manifest.get("child_map", {})) | set(roots)
    read = _closure(downstream, manifest.get("parent_map", {})) - downstream
    out = []
    for uid in sorted(read):
        node = nodes.get(uid)
        if not node or node.get("resource_type") != "model":
            continue
        if node.get("config", {}).get("materialized") == "ephemeral":
            continue
        if f"{node['schema']}.{node.get('alias') or node['name']}" not in existing:
            out.append(uid)
    return out


def _source_id(manifest: dict[str, Any], source: str, table: str) -> str:
    project = manifest.get("metadata", {}).get("project_name") or "agentsync"
    return f"source.{project}.{source}.{table}"


def _folder_models(manifest: dict[str, Any], folder: str) -> list[str]:
    return [
        uid
        for uid, n in manifest.get("nodes", {}).items()
        if n.get("resource_type") == "model"
        and str(n.get("original_file_path", "")).startswith(f"models/staging/{folder}/")
    ]


def _unbuilt(manifest: dict[str, Any], models: Iterable[str], existing: set[str]) -> bool:
    """Does any of these models, or anything downstream of them, not exist yet?"""
    nodes = manifest.get("nodes", {})
    wanted = set(models) | _closure(models, manifest.get("child_map", {}))
    for uid in wanted:
        node = nodes.get(uid)
        if not node or node.get("resource_type") != "model":
            continue
        if node.get("config", {}).get("materialized") == "ephemeral":
            continue
        if f"{node['schema']}.{node.get('alias') or node['name']}" not in existing:
            return True
    return False


def plan(loaded_sources: Iterable[str] = ()) -> Plan:
    """The pending loads, the tables they touched and the dbt selection for them.

    Per touched table the term is ``source:<source>.<table>+``, or ``@source:<source>.<table>``
    when a model that build reads would be missing (also its ancestors are built; without a
    manifest yet, always). A source this run loaded whose models do not all exist yet (its
    first onboarding, a table it has not loaded so far, a new model) also gets
    ``@staging.<source>``, so all its marts exist for the gate.
    """
    sources = declared_sources()
    manifest = _manifest()
    with db.begin() as conn:
        loads = pending(conn, sources)
        tables = touched_tables(conn, loads, sources)
        existing = _existing_relations(conn)
    select: list[str] = []
    for schema, table in tables:
        name = sources[schema].name
        root = _source_id(manifest, name, table) if manifest else ""
        if manifest and not missing_parents(manifest, [root], existing):
            select.append(f"source:{name}.{table}+")
        else:
            select.append(f"@source:{name}.{table}")
    for source in sorted(set(loaded_sources)):
        if not (PROJECT_DIR / "models" / "staging" / source).is_dir():
            continue
        if manifest is None or _unbuilt(manifest, _folder_models(manifest, source), existing):
            select.append(f"@staging.{source}")
    return Plan(loads=loads, tables=tables, select=select)


def mark_built(loads: Iterable[tuple[str, str]]) -> int:
    """List these loads as built (after a successful build, or when they touched nothing)."""
    rows = [{"s": s, "l": load_id} for s, load_id in loads]
    if not rows:
        return 0
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.dbt_built_loads (schema_name, load_id) values (:s, :l) "
                "on conflict do nothing"
            ),
            rows,
        )
    return len(rows)
