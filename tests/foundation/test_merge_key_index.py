"""Every merged mart is indexed on its unique key: on its first build, and a mart built before
the index existed gets it on its next run (macros/merge_key_index.sql).

Why it matters: dbt's merge and FUB's deletion post-hooks join to the mart on that key; in a
seed-scale daily build the planner chose nested loops for them and an update of 0 rows took 154
s on a 1.7M-row mart (bench/results.md, "Whole pipeline (`--scale seed`)"). Real dbt and
PostgreSQL; the models build on an empty database (their sources are empty guards).
"""

from __future__ import annotations

import json

from sqlalchemy import text

from agentsync import db
from agentsync.transform import PROJECT_DIR, run_dbt, target_dir

SELECT = ["+people", "+title_orders", "+network"]


def _key_indexes(conn) -> dict[str, str]:
    rows = conn.execute(
        text(
            "select tablename, indexdef from pg_indexes "
            "where schemaname = 'marts' and indexname like '%\\_\\_merge\\_key'"
        )
    ).all()
    return {r.tablename: r.indexdef for r in rows}


def _unique_keys() -> dict[str, list[str]]:
    """The incremental marts of SELECT with their unique_key, from dbt's own manifest."""
    manifest = json.loads((target_dir() / "manifest.json").read_text())
    out = {}
    for node in manifest["nodes"].values():
        config = node.get("config", {})
        if (
            node["resource_type"] == "model"
            and node["schema"] == "marts"
            and (config.get("materialized") == "incremental" and config.get("unique_key"))
        ):
            key = config["unique_key"]
            out[node["alias"]] = [key] if isinstance(key, str) else key
    return out


def test_merged_marts_are_indexed_on_their_unique_key_and_old_ones_get_it(agentsync_env):
    assert PROJECT_DIR.is_dir()
    result = run_dbt(["run", "--select", *SELECT])
    assert result.success, result.failures
    keys = _unique_keys()
    with db.begin() as conn:
        indexes = _key_indexes(conn)
    assert {"people", "title_orders"} <= set(indexes)
    for table, definition in indexes.items():
        assert definition.endswith(f"({', '.join(keys[table])})"), definition
    assert "network" not in indexes  # recomputed per agent, no unique key: no index

    # a mart built before the index existed: the next (incremental) run adds it, once
    with db.begin() as conn:
        conn.execute(text('drop index marts."people__merge_key"'))
    for _ in range(2):
        result = run_dbt(["run", "--select", "people"])
        assert result.success, result.failures
    with db.begin() as conn:
        count = conn.execute(
            text(
                "select count(*) from pg_indexes where schemaname = 'marts' and tablename = 'people'"
            )
        ).scalar_one()
        assert "people" in _key_indexes(conn) and count == 1
