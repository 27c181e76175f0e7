"""FUB benchmark: people/s end to end (API → raw → marts), against baselines from the same run.

One command::

    .venv/bin/python -m bench.bench_fub                   # agent 101 with ~50,000 people
    .venv/bin/python -m bench.bench_fub --people 5000     # quicker
    .venv/bin/python -m bench.bench_fub --scale seed      # the seed world (agent 101: ~570k)
    .venv/bin/python -m bench.bench_fub --people 5000 --ab 2   # + row-shaping A/B (see below)

In a fresh data dir with its own embedded PostgreSQL and a sandbox on loopback (served from a
thread of this process, so HTTP serving shares the GIL with the pipeline), it measures:

1. **Pipeline-bound** (sandbox rate limit off): agent 101's people through ``fub.people``
   (API → ``raw_fub``) and ``dbt run`` of ``stg_fub__people`` + ``people`` (→ ``marts.people``);
   people/s.
   Baselines in the same run: (a) the same pages fetched with the same HTTP client and nothing
   else (API-only), (b) PostgreSQL ``COPY`` of the same rows as JSON (database-only).
2. **API-bound** (rate limit on, 250 requests / 10 s x 100 rows = 2,500 people/s theoretical):
   agent 102's people through ``fub.people``; the fraction of the theoretical rate reached, and
   the 429s seen (pacing should keep it at 0).
3. Peak RSS of the process.
4. With ``--ab REPS``: the same fetched people pages through dlt with the old row shaping
   (``check`` only, gzip'd load files) and the current one (``check`` + ``prepare``, uncompressed
   files), plus the current one with ``loader_file_format="csv"``, interleaved; wall and process
   CPU per variant and whether the landed datasets are identical (columns, types, rows).

Results are appended under a "FUB" heading in ``bench/results.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.md"
THEORETICAL_PEOPLE_PER_S = 250 / 10 * 100


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scale_for(people: int, seed: int) -> int:
    """A numeric sandbox scale where agent 101 has about ``people`` people."""
    from sandbox.world import World

    scale = max(10, people)
    for _ in range(20):
        share = World(seed=seed, scale=scale).share("fub", scale, 101)
        if share >= people:
            return scale
        scale = int(scale * people / max(1, share)) + 1
    return scale


def _api_only(user_id: int) -> tuple[int, float]:
    from dlt_pipelines.fub.auth import load_auth
    from dlt_pipelines.fub.client import FubClient
    from dlt_pipelines.fub.settings import STREAMS

    t = time.perf_counter()
    n = 0
    with FubClient(load_auth(user_id)) as client:
        for page in client.pages(STREAMS["people"]):
            n += len(page.records)
    return n, time.perf_counter() - t


def _copy_baseline(user_id: int, workdir: Path) -> tuple[int, float]:
    """COPY the agent's raw people rows (as JSON documents) into a fresh table; rows and seconds.

    The documents are exported with a server-side ``COPY ... TO`` into a file first (streamed, not
    held in memory), and only the ``COPY ... FROM`` of that file is timed.
    """
    import psycopg2

    from agentsync import db

    path = workdir / "copy_baseline.jsonl"
    conn = psycopg2.connect(db.database_url())
    try:
        with conn.cursor() as cur, path.open("w") as fh:
            cur.copy_expert(
                "copy (select row_to_json(p)::text from raw_fub.people as p "
                f"where user_id = {int(user_id)}) to stdout",
                fh,
            )
        with conn.cursor() as cur, path.open("r") as fh:
            cur.execute("create temp table copy_baseline (doc jsonb)")
            t = time.perf_counter()
            cur.copy_expert("copy copy_baseline (doc) from stdin", fh)
            conn.commit()
            seconds = time.perf_counter() - t
            cur.execute("select count(*) from copy_baseline")
            return cur.fetchone()[0], seconds
    finally:
        conn.close()
        path.unlink(missing_ok=True)


def _ab_rows(user_id: int, reps: int) -> dict[str, object]:
    """Row-shaping A/B on the same pages: ``check`` only (before) vs ``check`` + ``prepare`` with
    uncompressed load files (now), each through its own dlt pipeline into its own dataset,
    interleaved ``reps`` times so both see the same machine load. Returns wall and CPU seconds per
    variant (best of the reps) and whether both datasets hold the same columns, types and rows.
    """
    import dlt
    from sqlalchemy import text

    from agentsync import db
    from dlt_pipelines.fub.auth import load_auth
    from dlt_pipelines.fub.client import FubClient
    from dlt_pipelines.fub.prepare import prepare
    from dlt_pipelines.fub.settings import STREAMS
    from dlt_pipelines.fub.source import raw_resource
    from dlt_pipelines.fub.validate import check
    from dlt_pipelines.run import pipeline_guard

    stream = STREAMS["people"]
    with FubClient(load_auth(user_id)) as client:
        pages = [page.records for page in client.pages(stream)]

    def batches(fast: bool) -> Iterator[list[dict[str, Any]]]:
        for records in pages:
            out = []
            for record in records:
                row, _ = check(stream, record)
                row["user_id"] = user_id
                out.append(prepare(row) if fast else row)
            yield out

    variants = (("before", False, None), ("now", True, None), ("now_csv", True, "csv"))
    best: dict[str, tuple[float, float]] = {}
    for rep in range(reps):
        for name, fast, file_format in variants:
            pipeline_name = f"fub_ab_{name}_{rep}_user_{user_id}"
            key = f"{pipeline_name.upper()}__NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION"
            os.environ[key] = "true" if fast else "false"

            def factory(pipeline_name: str = pipeline_name, name: str = name) -> dlt.Pipeline:
                return dlt.pipeline(
                    pipeline_name=pipeline_name,
                    destination=dlt.destinations.postgres(credentials=db.database_url()),
                    dataset_name=f"bench_ab_{name}",
                    pipelines_dir=str(Path(os.environ["AGENTSYNC_DATA_DIR"]) / "ab"),
                )

            # One writer per pipeline, as the sources do (issue 15): the pipeline's lock is held
            # and anything an earlier (killed) run left pending is settled before the timing.
            with pipeline_guard(pipeline_name, factory) as pipeline:
                wall, cpu = time.perf_counter(), time.process_time()
                pipeline.run(
                    raw_resource("people", lambda fast=fast: batches(fast)),
                    schema=dlt.Schema("fub"),
                    loader_file_format=file_format,
                )
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            prev = best.get(name)
            best[name] = (min(wall, prev[0]), min(cpu, prev[1])) if prev else (wall, cpu)
    with db.begin() as conn:
        types = {
            name: conn.execute(
                text(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = :s and table_name = 'people' and column_name "
                    "not in ('_dlt_id', '_dlt_load_id') order by column_name"
                ),
                {"s": f"bench_ab_{name}"},
            ).all()
            for name, _, _ in variants
        }
        cols = ", ".join(f'"{c}"' for c, _ in types["before"])

        def differing(other: str) -> int:
            return conn.execute(
                text(
                    f"select (select count(*) from (select {cols} from bench_ab_before.people "
                    f"except select {cols} from bench_ab_{other}.people) a) + (select count(*) "
                    f"from (select {cols} from bench_ab_{other}.people except select {cols} "
                    "from bench_ab_before.people) b)"
                )
            ).scalar()

        diff, csv_diff = differing("now"), differing("now_csv")
    rows = sum(len(p) for p in pages)
    return {
        "ab_rows": rows,
        "ab_reps": reps,
        "ab_before_wall": best["before"][0],
        "ab_before_cpu": best["before"][1],
        "ab_now_wall": best["now"][0],
        "ab_now_cpu": best["now"][1],
        "ab_same_types": types["before"] == types["now"],
        "ab_row_diff": diff,
        "ab_csv_wall": best["now_csv"][0],
        "ab_csv_cpu": best["now_csv"][1],
        "ab_csv_same_types": types["before"] == types["now_csv"],
        "ab_csv_row_diff": csv_diff,
    }


def run(people: int | None, scale: str | None, seed: int, ab_reps: int = 0) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="agentsync-bench-fub-"))
    for key in [k for k in os.environ if k.startswith("AGENTSYNC_")]:
        del os.environ[key]
    os.environ["AGENTSYNC_DATA_DIR"] = str(data_dir)

    import httpx
    from sqlalchemy import text

    from agentsync import agents, db
    from agentsync.transform import run_dbt
    from bench.bench_pipeline import _progress, _start_sandbox
    from dlt_pipelines.fub import FubRun
    from dlt_pipelines.http import gate_for

    sandbox_scale: str | int = scale if scale else _scale_for(people or 50_000, seed)
    rss_start = _peak_rss_mb()
    db.ensure_ready()
    # A separate process: serving JSON must not share this process's GIL with the pipeline.
    sandbox_proc, sandbox_info = _start_sandbox(str(sandbox_scale), seed)
    os.environ.update(sandbox_info["env"])
    root = sandbox_info["url"]
    try:
        for demo in sandbox_info["agents"]:
            if demo["user_id"] in (101, 102) and demo["credentials"].get("fub"):
                agents.add_agent(demo["user_id"], demo["name"], {"fub": demo["credentials"]["fub"]})
        truth = httpx.get(
            f"{root}/_sandbox/truth/fub", params={"user_id": 101, "entity": "people"}, timeout=600
        ).json()["101"]["people"]["count"]
        run_dbt(["parse"])

        # 1. pipeline-bound ---------------------------------------------------------------------
        httpx.post(f"{root}/_sandbox/fub/ratelimit", json={"enabled": False}).raise_for_status()
        _progress(f"agent 101: {truth:,} people; API-only walk")
        api_rows, api_s = _api_only(101)
        _progress(f"API-only: {api_rows:,} people in {api_s:.1f} s; fub.people load")
        t = time.perf_counter()
        with FubRun(101, "manual") as run_:
            loaded = run_.load_stream("people").rows
        load_s = time.perf_counter() - t
        _progress(f"fub.people: {loaded:,} rows in {load_s:.1f} s; dbt run")
        t = time.perf_counter()
        run_dbt(["run", "--select", "stg_fub__people", "people"])
        dbt_s = time.perf_counter() - t
        _progress(f"dbt run: {dbt_s:.1f} s; COPY baseline, then agent 102 with the limit on")
        with db.begin() as conn:
            mart = conn.execute(
                text("select count(*) from marts.people where user_id = 101")
            ).scalar()
        if mart != truth or loaded != truth:
            raise SystemExit(f"marts disagree with the sandbox truth: {mart}/{loaded} vs {truth}")
        rss_pipeline = _peak_rss_mb()  # API → raw → marts; the baselines below come after
        copy_rows, copy_s = _copy_baseline(101, data_dir)
        ab = _ab_rows(101, ab_reps) if ab_reps else {}

        # 2. API-bound ----------------------------------------------------------------------------
        httpx.post(f"{root}/_sandbox/fub/ratelimit", json={"enabled": True}).raise_for_status()
        t = time.perf_counter()
        with FubRun(102, "manual") as run_:
            gate = gate_for(f"{run_.client.fingerprint}:global")
            before_429 = gate.responses_429
            limited = run_.load_stream("people").rows
            limited_requests = run_.client.requests
        limited_s = time.perf_counter() - t
        limited_429 = gate.responses_429 - before_429
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(timeout=30)
        db.stop_embedded()
    e2e_s = load_s + dbt_s
    return {
        "scale": sandbox_scale,
        "seed": seed,
        "people": truth,
        "api_rows": api_rows,
        "api_s": api_s,
        "load_s": load_s,
        "dbt_s": dbt_s,
        "e2e_per_s": truth / e2e_s,
        "load_per_s": truth / load_s,
        "api_per_s": api_rows / api_s,
        "copy_per_s": copy_rows / copy_s,
        "limited_rows": limited,
        "limited_s": limited_s,
        "limited_requests": limited_requests,
        "limited_per_s": limited / limited_s,
        "limited_429": limited_429,
        "rss_start": rss_start,
        "rss_pipeline": rss_pipeline,
        "rss_peak": _peak_rss_mb(),
        **ab,
    }


def report(r: dict[str, object], command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    f = {k: v for k, v in r.items()}
    lines = [
        "",
        "## FUB",
        "",
        f"`{command}` ({when}; sandbox scale `{f['scale']}`, seed {f['seed']}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs shared with other work — absolute numbers "
        "are noisy, the ratios are the measurement). Sandbox served from a separate process.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| agent 101 people (truth = raw = mart) | {f['people']:,} |",
        f"| API only: same pages, same client, nothing stored | {f['api_per_s']:,.0f} people/s |",
        f"| `fub.people` (API → raw_fub) | {f['load_s']:.1f} s ({f['load_per_s']:,.0f} people/s) |",
        f"| `dbt run` stg_fub__people + people | {f['dbt_s']:.1f} s |",
        f"| **end to end (API → marts), rate limit off** | **{f['e2e_per_s']:,.0f} people/s** |",
        f"| PostgreSQL COPY of the same rows (JSON) | {f['copy_per_s']:,.0f} rows/s |",
        f"| ratio load / API-only | {f['load_per_s'] / f['api_per_s']:.2f} |",
        f"| ratio end-to-end / COPY | {f['e2e_per_s'] / f['copy_per_s']:.4f} |",
        f"| rate limit on: agent 102 people | {f['limited_rows']:,} in {f['limited_s']:.1f} s, "
        f"{f['limited_requests']} requests, {f['limited_429']} x 429 |",
        f"| **fraction of theoretical API-bound rate (2,500 people/s)** | "
        f"**{f['limited_per_s'] / THEORETICAL_PEOPLE_PER_S:.2f}** |",
        f"| **peak RSS of the pipeline (API → raw → marts, agent 101)** | **{f['rss_pipeline']:,.0f} MB** "
        f"(at start {f['rss_start']:.0f} MB) |",
        f"| peak RSS of the whole run (incl. baselines and the rate-limited run) | {f['rss_peak']:,.0f} MB |",
        "",
        "With the limit on, the rate reached is bounded by the sandbox replica's own serving speed "
        "whenever that is below 25 pages/s (see the Sandbox section), so the fraction is a lower "
        "bound of what pacing allows; the 429 count shows whether pacing kept under the limit.",
        "",
    ]
    if "ab_rows" in f:
        lines += [
            f"Row-shaping A/B (`--ab {f['ab_reps']}`): the same {f['ab_rows']:,} people pages, "
            "already fetched, through `dlt` (extract → normalise → load into PostgreSQL), "
            "before = `check` only with gzip'd load files, now = `check` + `prepare` with "
            "uncompressed load files; interleaved, best of the reps.",
            "",
            "| measure | before | now | ratio now / before |",
            "| --- | --- | --- | --- |",
            f"| wall s | {f['ab_before_wall']:.1f} | {f['ab_now_wall']:.1f} | "
            f"{f['ab_now_wall'] / f['ab_before_wall']:.2f} |",
            f"| CPU s (whole process) | {f['ab_before_cpu']:.1f} | {f['ab_now_cpu']:.1f} | "
            f"{f['ab_now_cpu'] / f['ab_before_cpu']:.2f} |",
            f"| rows/s (wall) | {f['ab_rows'] / f['ab_before_wall']:,.0f} | "
            f"{f['ab_rows'] / f['ab_now_wall']:,.0f} | "
            f"{f['ab_before_wall'] / f['ab_now_wall']:.2f}x |",
            f"| same raw columns and types / rows differing | {f['ab_same_types']} | | "
            f"{f['ab_row_diff']} |",
            "",
            'Not adopted, measured alongside: now + `loader_file_format="csv"` (COPY): '
            f"wall {f['ab_csv_wall']:.1f} s (ratio to before "
            f"{f['ab_csv_wall'] / f['ab_before_wall']:.2f}), CPU {f['ab_csv_cpu']:.1f} s "
            f"(ratio {f['ab_csv_cpu'] / f['ab_before_cpu']:.2f}); same columns and types: "
            f"{f['ab_csv_same_types']}; rows differing from before: {f['ab_csv_row_diff']}.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000, help="people of agent 101")
    parser.add_argument("--scale", default=None, help="a sandbox scale (e.g. seed) instead")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--ab", type=int, default=0, metavar="REPS", help="also A/B the row shaping REPS times"
    )
    args = parser.parse_args(argv)
    result = run(None if args.scale else args.people, args.scale, args.seed, args.ab)
    command = "python -m bench.bench_fub " + shlex.join(argv or sys.argv[1:])
    out = report(result, command.strip())
    print(out)
    if not args.no_write:
        with RESULTS.open("a") as fh:
            fh.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
