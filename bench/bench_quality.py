"""Benchmark: what the quality checks cost over plain counting, and GX's overhead.

Run: ``python -m bench.bench_quality [--rows 200000] [--agents 20]`` (prints a Markdown section
for ``bench/results.md``).

A synthetic entity (raw table with 2 versions per record, a mart with one row per record, a few
flagged and quarantined rows, processed-load bookkeeping, sync runs) is created with SQL in a
fresh embedded PostgreSQL (temporary data dir). Measured in the same run, on the same data:

- baseline: the three counts any reconciliation must read — ``count(*)`` and
  ``count(distinct id)`` of the raw table per agent, ``count(*)`` of the mart per agent;
- the per-agent metrics query (:mod:`agentsync.quality.metrics`: counts, exclusions, the
  raw-id → mart anti-join, quarantine, freshness);
- ``check_health`` (backlog over ``_dlt_loads`` and ``ops.dbt_processed_loads``, sync age,
  errors, stuck jobs);
- the GX checkpoint for this entity (views refreshed, suite run, Data Docs rebuilt).

Reported as ratios to the baseline (absolute times on a shared machine are noise).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

SETUP = """
create schema if not exists raw_bench;
create schema if not exists marts;
create table raw_bench._dlt_loads (load_id text, schema_name text, status int,
                                   inserted_at timestamptz default now());
insert into raw_bench._dlt_loads (load_id, schema_name, status)
select 'load' || v, 'bench', 0 from generate_series(1, 2) v;
create table raw_bench.items as
select (i % :agents) + 1 as user_id, i as id, 'load' || v as _dlt_load_id,
       now() - make_interval(hours => (i % 48)) as updated_at
  from generate_series(1, :records) i, generate_series(1, 2) v;
create index on raw_bench.items (user_id, id);
create table marts.bench_items as
select distinct on (user_id, id) user_id, id::text as item_id, updated_at,
       (id % 97 = 0) as is_deleted, (id % 53 = 0) as is_trashed
  from raw_bench.items order by user_id, id;
create index on marts.bench_items (user_id, item_id);
insert into ops.dbt_processed_loads (model, schema_name, load_id)
select 'marts.bench_items', 'raw_bench', 'load' || v from generate_series(1, 2) v;
insert into ops.agents (user_id, name) select a, 'Agent ' || a from generate_series(1, :agents) a;
insert into ops.sync_runs (kind, user_id, source, entity, status, ended_at, reported_total)
select 'daily', a, 'bench', 'items', 'done', now(),
       (select count(*) from marts.bench_items m where m.user_id = a and not m.is_deleted)
  from generate_series(1, :agents) a;
analyze;
"""


def _time(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="records (raw has 2 versions)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    os.environ["AGENTSYNC_DATA_DIR"] = str(tmp)
    os.environ.pop("AGENTSYNC_DATABASE_URL", None)

    import sqlalchemy as sa

    from agentsync import db
    from agentsync.contracts import EntitySpec
    from agentsync.quality.gx import build_context, run_checkpoint
    from agentsync.quality.health import check_health
    from agentsync.quality.metrics import entity_counts

    spec = EntitySpec("bench", "items", "raw_bench.items", "id", "marts.bench_items", "item_id",
                      "updated_at", {"deleted": "is_deleted", "trashed": "is_trashed"})  # fmt: skip
    db.ensure_ready()
    t0 = time.perf_counter()
    with db.begin() as conn:
        conn.execute(sa.text(SETUP), {"agents": args.agents, "records": args.rows})
    setup_s = time.perf_counter() - t0

    def baseline() -> None:
        with db.begin() as conn:
            conn.execute(sa.text(
                "select user_id, count(*), count(distinct id) from raw_bench.items group by 1"
            )).all()  # fmt: skip
            conn.execute(
                sa.text("select user_id, count(*) from marts.bench_items group by 1")
            ).all()

    def metrics() -> None:
        with db.begin() as conn:
            rows = entity_counts(conn, spec)
        assert len(rows) == args.agents and all(r.unexplained_gap == 0 for r in rows)

    def health() -> None:
        report = check_health([spec])
        assert [i.value for i in report.items if i.check == "backlog"] == [0]

    root = tmp / "expectations"
    build_context([spec], root=root)

    def gate() -> None:
        outcome = run_checkpoint(None, entities=[spec], root=root)
        assert outcome.success, outcome.failures

    base = _time(baseline, args.repeat)
    m = _time(metrics, args.repeat)
    h = _time(health, args.repeat)
    g = _time(gate, args.repeat)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"## Quality checks\n\n`python -m bench.bench_quality --rows {args.rows} --agents "
          f"{args.agents}` ({now}; {platform.machine()}, {os.cpu_count()} CPUs shared with other "
          "work — absolute times are noisy, the ratios are the measurement). Median of "
          f"{args.repeat} runs.\n")  # fmt: skip
    print("| measure | value |\n| --- | --- |")
    print(f"| raw rows / mart rows / agents | {2 * args.rows:,} / {args.rows:,} / {args.agents} |")
    print(f"| setup (SQL) | {setup_s:.1f} s |")
    print(f"| baseline: raw count + distinct ids + mart count per agent | {base:.2f} s |")
    print(f"| metrics query (all counts, exclusions, anti-join, freshness) | {m:.2f} s |")
    print(f"| **ratio metrics / baseline** | **{m / base:.2f}** |")
    print(f"| check_health (backlog over processed loads, ages, errors, jobs) | {h:.2f} s |")
    print(f"| **ratio health / baseline** | **{h / base:.2f}** |")
    print(f"| GX checkpoint for the entity (views, suite, Data Docs) | {g:.2f} s |")
    print(f"| **ratio GX checkpoint / metrics query** | **{g / m:.2f}** |")
    db.stop_embedded()


if __name__ == "__main__":
    main()
