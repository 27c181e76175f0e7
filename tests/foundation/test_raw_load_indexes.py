"""Every raw table gets an index on ``_dlt_load_id`` at the start of each dbt run (once)."""

from __future__ import annotations

from sqlalchemy import text

from agentsync import db
from agentsync.transform import run_dbt


def _load_id_indexes(conn, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "select indexname from pg_indexes where schemaname = 'raw_qualia' "
                "and tablename = :t and indexdef like '%(_dlt_load_id)%'"
            ),
            {"t": table},
        ).scalars()
    )


def test_raw_tables_are_indexed_by_load_id_once(agentsync_env) -> None:
    with db.begin() as conn:
        conn.execute(text("create schema if not exists raw_qualia"))
        conn.execute(text("create table raw_qualia.orders_probe (id text, _dlt_load_id text)"))
        conn.execute(text("create table raw_qualia.no_load_column (id text)"))
        assert _load_id_indexes(conn, "orders_probe") == []

    for _ in range(2):  # the second run must not add another index
        result = run_dbt(["run", "--select", "stg_qualia__orders"])
        assert result.success, result.failures

    with db.begin() as conn:
        assert len(_load_id_indexes(conn, "orders_probe")) == 1
        assert _load_id_indexes(conn, "no_load_column") == []
