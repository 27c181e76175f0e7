"""The gate counts tables the planner has statistics for (issue 16, found at seed scale).

A mart dbt has just built (1.7M people) has no planner statistics until autovacuum reaches it; the
gate's count, joining it with raw, was then planned for 40,000 rows and took 844 s instead of 28 s.
:func:`agentsync.quality.metrics.analyze_stale` analyses a table with no statistics, or whose rows
changed since by more than a fifth, and leaves the others alone; the gate runs it on the raw table
and mart of every entity it counts. Real PostgreSQL, a real gate.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from agentsync import db
from agentsync.quality.gate import run_quality_gate
from agentsync.quality.metrics import STALE_STATISTICS, analyze_stale
from tests.quality.conftest import SPEC, TinySource, widgets


def _stats(conn: sa.Connection) -> tuple:
    conn.execute(sa.text("select pg_stat_force_next_flush()"))
    conn.commit()  # the counters are flushed at the end of a transaction
    conn.execute(sa.text("select pg_stat_clear_snapshot()"))
    return conn.execute(
        sa.text(
            "select last_analyze is not null, n_mod_since_analyze from pg_stat_user_tables "
            "where relid = to_regclass('probe.things')"
        )
    ).one()


def test_a_table_without_or_with_stale_statistics_is_analysed_before_counting(
    agentsync_env,
) -> None:
    with db.engine().connect() as conn:
        conn.execute(sa.text("create schema probe"))
        conn.execute(
            sa.text("create table probe.things as select g as id from generate_series(1, 5000) g")
        )
        conn.execute(sa.text("create view probe.view_of_things as select * from probe.things"))
        conn.commit()
        assert _stats(conn)[0] is False  # filled, never analysed

        tables = ["probe.things", "probe.view_of_things", "probe.missing"]
        assert analyze_stale(conn, tables) == ["probe.things"]  # views, missing: nothing to do
        conn.commit()
        assert _stats(conn) == (True, 0)

        assert analyze_stale(conn, tables) == []  # fresh: left alone
        few = int(5000 * STALE_STATISTICS) - 100
        conn.execute(sa.text("update probe.things set id = -id where id <= :n"), {"n": few})
        conn.commit()
        assert _stats(conn)[1] == few
        assert analyze_stale(conn, tables) == []  # under a fifth changed
        conn.execute(
            sa.text("update probe.things set id = -id where id > :n and id <= :n + 400"),
            {"n": few},
        )
        conn.commit()
        assert _stats(conn)[1] == few + 400  # counted (flushed, as dbt's long have been)
        assert analyze_stale(conn, tables) == ["probe.things"]  # over it


def _analysed(conn: sa.Connection, table: str) -> bool:
    """Whether ``table`` has planner statistics (``reltuples`` is -1 until it is analysed)."""
    return conn.execute(
        sa.text("select reltuples >= 0 from pg_class where oid = to_regclass(:t)"), {"t": table}
    ).scalar()


def test_the_gate_analyses_the_tables_it_counts_before_counting_them(
    tiny: TinySource, context: Path
) -> None:
    tiny.sync(1, widgets(range(1, 8)), reported_total=7)
    tiny.build_mart()
    tables = [SPEC.raw_table, SPEC.mart]
    with db.begin() as conn:
        for table in tables:  # autovacuum must not analyse them first
            conn.execute(sa.text(f"alter table {table} set (autovacuum_enabled = false)"))
    with db.engine().connect() as conn:
        assert [_analysed(conn, t) for t in tables] == [False, False]  # loaded, built, unanalysed

    result = run_quality_gate(None, entities=[SPEC], context_root=context, dbt_args=None)

    assert result.success, result.failures
    with db.engine().connect() as conn:
        assert [_analysed(conn, t) for t in tables] == [True, True]
