"""FUB people load path, before and after typed loads, against COPY and a bare walk — one run.

One command::

    .venv/bin/python -m bench.bench_copyload --scale seed        # agent 101: 571,349 people
    .venv/bin/python -m bench.bench_copyload --people 20000      # quicker

In a fresh data dir with its own embedded PostgreSQL and the sandbox in a separate process (FUB
rate limiter off: pipeline-bound), all in the same run:

1. **bare walk**: agent 101's people pages fetched with the same client, nothing else;
2. **before**: ``fub.people`` for agent 101 with the code of ``--before-ref`` (default: the
   last commit before typed loads; its tree is exported to a temporary directory and run in a
   child process with it first on ``PYTHONPATH``), then ``dbt run --full-refresh`` of
   ``stg_fub__people`` and ``people``; its raw is set aside;
3. **after**: the same with this tree (typed loads), in a child process too;
4. **A/B**: the two raw tables compared (same columns and types, ``except all`` both ways);
5. **floor**: PostgreSQL ``COPY`` of the same rows (a) as JSON documents into a ``jsonb``
   column (the floor of the earlier FUB benchmarks) and (b) into a clone of ``raw_fub.people``
   (``create table (like ...)``; the typed columns a loader near COPY writes).

Per path: dlt's stage seconds (extract incl. HTTP, normalise, load) from the pipeline trace,
the child's CPU seconds and peak RSS, dbt seconds; and the ratios the issue asks for — end to end
(load + dbt) and normalise + load against the COPY floor, extract against the bare walk. Results
are appended to ``bench/results.md`` with the command, commit, machine and load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.md"
BEFORE_REF = "f97e291"  # the last commit before typed loads (issue 18 item 1)
AGENT = 101
MARK = "BENCH-RESULT "

CHILD = """
import json, os, resource, time
import dlt
step_cpu = {}
def _timed(name, run):
    def wrapped(self, *args, **kwargs):
        t = time.process_time()
        try:
            return run(self, *args, **kwargs)
        finally:
            step_cpu[name] = step_cpu.get(name, 0.0) + time.process_time() - t
    return wrapped
for _name in ("extract", "normalize", "load"):
    setattr(dlt.Pipeline, _name, _timed(_name, getattr(dlt.Pipeline, _name)))
from agentsync import db
db.ensure_ready()
try:
    from dlt_pipelines.fub import FubRun
except ImportError:  # code from before FubRun moved out of fub/source.py
    from dlt_pipelines.fub.source import FubRun
wall, cpu = time.perf_counter(), time.process_time()
with FubRun(%(agent)d, "manual") as run:
    result = run.load_stream("people")
    trace = run.pipeline.last_trace
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
steps = {}
for step in trace.steps:
    if step.step in ("extract", "normalize", "load"):
        steps[step.step] = (step.finished_at - step.started_at).total_seconds()
print(%(mark)r + json.dumps({
    "rows": result.rows, "wall": wall, "cpu": cpu, "steps": steps, "step_cpu": step_cpu,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}), flush=True)
db.stop_embedded()
"""


def _progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _load_avg() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _export(ref: str) -> Path:
    """The tree of ``ref`` in a temporary directory."""
    out = Path(tempfile.mkdtemp(prefix="bench-copyload-before-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def _head(tree: Path) -> str:
    """The newest migration of ``tree``'s own ``ops`` schema."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(tree / "agentsync" / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:
        raise SystemExit(f"{tree}: no migrations")
    return head


def _set_revision(revision: str) -> str:
    """Set ``ops.alembic_version`` to ``revision``; returns what it was."""
    from sqlalchemy import text

    from agentsync import db

    with db.begin() as conn:
        was = conn.execute(text("select version_num from ops.alembic_version")).scalar_one()
        conn.execute(text("update ops.alembic_version set version_num = :r"), {"r": revision})
    return str(was)


def _child_load(tree: Path | None) -> dict[str, Any]:
    """``fub.people`` for the agent in a child process (``tree``: code to run instead of ours).

    The older code runs on the ``ops`` schema of today's migrations (a superset of its own),
    told it is at its own newest migration, so it does not refuse a revision it does not know;
    the version is put back after it."""
    if tree is not None:
        was = _set_revision(_head(tree))
        try:
            return _run_child(tree)
        finally:
            _set_revision(was)
    return _run_child(None)


def _run_child(tree: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD % {"agent": AGENT, "mark": MARK}],
        env=env,
        cwd=str(tree or REPO),
        capture_output=True,
        text=True,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    raise SystemExit(f"child load failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _walk() -> tuple[int, float, float]:
    from dlt_pipelines.fub.auth import load_auth
    from dlt_pipelines.fub.client import FubClient
    from dlt_pipelines.fub.settings import STREAMS

    t, cpu = time.perf_counter(), time.process_time()
    n = 0
    with FubClient(load_auth(AGENT)) as client:
        for page in client.pages(STREAMS["people"]):
            n += len(page.records)
    return n, time.perf_counter() - t, time.process_time() - cpu


def _dbt() -> float:
    from agentsync.transform import run_dbt

    t = time.perf_counter()
    run_dbt(["run", "--full-refresh", "--select", "stg_fub__people", "people"])
    return time.perf_counter() - t


def _set_aside(schema: str) -> None:
    import shutil

    from sqlalchemy import text

    from agentsync import db
    from agentsync.settings import get_settings

    with db.begin() as conn:
        conn.execute(text(f"alter schema raw_fub rename to {schema}"))
    shutil.rmtree(get_settings().dlt_dir, ignore_errors=True)


def _copy_floor(workdir: Path) -> dict[str, float]:
    """Seconds of ``COPY ... FROM`` of the agent's raw people rows: as JSON documents into a
    ``jsonb`` column, and into a clone of the raw table. Each export is streamed to a file first
    (``COPY ... TO``) and only the ``COPY ... FROM`` is timed."""
    import psycopg2

    from agentsync import db

    out: dict[str, float] = {}
    conn = psycopg2.connect(db.database_url())
    try:
        for name, export, target in (
            (
                "json",
                f"copy (select row_to_json(p)::text from raw_fub.people p where user_id = {AGENT}) to stdout",
                "create temp table floor_json (doc jsonb)",
            ),
            (
                "clone",
                f"copy (select * from raw_fub.people where user_id = {AGENT}) to stdout",
                "create temp table floor_clone (like raw_fub.people)",
            ),
        ):
            path = workdir / f"floor_{name}.copy"
            with conn.cursor() as cur, path.open("w") as fh:
                cur.copy_expert(export, fh)
            with conn.cursor() as cur, path.open("r") as fh:
                cur.execute(target)
                table = target.split()[3]
                t = time.perf_counter()
                cur.copy_expert(f"copy {table} from stdin", fh)
                conn.commit()
                out[name] = time.perf_counter() - t
                cur.execute(f"select count(*) from {table}")
                out[f"{name}_rows"] = cur.fetchone()[0]
            path.unlink()
    finally:
        conn.close()
    return out


def run(people: int | None, scale: str | None, seed: int, before_ref: str) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="agentsync-bench-copyload-"))
    for key in [k for k in os.environ if k.startswith("AGENTSYNC_")]:
        del os.environ[key]
    os.environ["AGENTSYNC_DATA_DIR"] = str(data_dir)

    import httpx

    from agentsync import agents, db
    from agentsync.transform import run_dbt
    from bench.bench_fub import _scale_for
    from bench.bench_pipeline import _start_sandbox
    from tests.raw_compare import compare

    sandbox_scale: str | int = scale if scale else _scale_for(people or 50_000, seed)
    before_tree = _export(before_ref)
    db.ensure_ready()
    sandbox_proc, sandbox_info = _start_sandbox(str(sandbox_scale), seed)
    os.environ.update(sandbox_info["env"])
    root = sandbox_info["url"]
    loads: dict[str, str] = {}
    try:
        for demo in sandbox_info["agents"]:
            if demo["user_id"] == AGENT:
                agents.add_agent(AGENT, demo["name"], {"fub": demo["credentials"]["fub"]})
        truth = httpx.get(
            f"{root}/_sandbox/truth/fub", params={"user_id": AGENT, "entity": "people"}, timeout=600
        ).json()[str(AGENT)]["people"]["count"]
        httpx.post(f"{root}/_sandbox/fub/ratelimit", json={"enabled": False}).raise_for_status()
        run_dbt(["parse"])

        _progress(f"agent {AGENT}: {truth:,} people; bare walk")
        loads["walk"] = _load_avg()
        walk_rows, walk_s, walk_cpu = _walk()
        _progress(f"walk: {walk_rows:,} in {walk_s:.1f} s; before ({before_ref})")
        loads["before"] = _load_avg()
        before = _child_load(before_tree)
        before["dbt"] = _dbt()
        _progress(f"before: {before}")
        _set_aside("bench_before_fub")
        loads["after"] = _load_avg()
        after = _child_load(None)
        after["dbt"] = _dbt()
        _progress(f"after: {after}")
        with db.begin() as conn:
            diff = compare(conn, "bench_before_fub", "raw_fub")
        loads["floor"] = _load_avg()
        floor = _copy_floor(data_dir)
        _progress(f"floor: {floor}; A/B identical: {diff.identical}, same rows: {diff.same_rows}")
        if not diff.identical:
            _progress(diff.describe())
        for name, r in (("before", before), ("after", after)):
            if r["rows"] != truth:
                raise SystemExit(f"{name}: {r['rows']} rows landed, the sandbox serves {truth}")
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(timeout=60)
        db.stop_embedded()
    return {
        "scale": sandbox_scale,
        "seed": seed,
        "people": truth,
        "walk_rows": walk_rows,
        "walk_s": walk_s,
        "walk_cpu": walk_cpu,
        "before": before,
        "after": after,
        "floor": floor,
        "identical": diff.identical,
        "same_rows": diff.same_rows,
        "diff": diff.describe(),
        "loads": loads,
        "before_ref": before_ref,
    }


def _commit() -> str:
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + (" (with uncommitted changes)" if dirty else "")


def report(r: dict[str, Any], command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    n = r["people"]
    floor_json = r["floor"]["json"]
    floor_clone = r["floor"]["clone"]

    def row(label: str, p: dict[str, Any]) -> list[str]:
        steps = p["steps"]
        extract, normalize, load = steps["extract"], steps["normalize"], steps["load"]
        e2e = p["wall"] + p["dbt"]
        return [
            f"| {label} | {extract:.1f} | {normalize:.1f} | {load:.1f} | {p['wall']:.1f} | "
            f"{p['dbt']:.1f} | {n / e2e:,.0f} | **{floor_json / e2e:.3f}** | {floor_clone / e2e:.3f} | "
            f"**{floor_json / (normalize + load):.2f}** | {floor_clone / (normalize + load):.2f} | "
            f"**{r['walk_s'] / extract:.2f}** | {p['cpu']:.1f} | **{p['rss_mb']:,.0f}** |"
        ]

    lines = [
        "",
        "## FUB people load path: before/after typed loads (issue 18 item 1)",
        "",
        f"Command: `{command}` — {when}, commit {_commit()}, before = `{r['before_ref']}`.",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, Linux {platform.release()}; shared with other work. Load "
        f"average (1/5/15 min) at the walk {r['loads']['walk']}, before {r['loads']['before']}, "
        f"after {r['loads']['after']}, floor {r['loads']['floor']}.",
        "",
        f"Agent {AGENT}: {n:,} people (sandbox scale `{r['scale']}`, seed {r['seed']}, FUB rate "
        f"limit off, sandbox in its own process). Bare walk of the same pages: "
        f"{r['walk_s']:.1f} s ({r['walk_rows'] / r['walk_s']:,.0f} people/s). COPY floor of the "
        f"same rows: as JSON into `jsonb` {floor_json:.2f} s ({n / floor_json:,.0f} rows/s); into "
        f"a clone of `raw_fub.people` {floor_clone:.2f} s ({n / floor_clone:,.0f} rows/s).",
        "",
        "| path | extract s | normalise s | load s | `fub.people` s | dbt s | end to end "
        "people/s | e2e / COPY (json) | e2e / COPY (clone) | norm+load / COPY (json) | "
        "norm+load / COPY (clone) | walk / extract | CPU s | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *row(f"before (`{r['before_ref']}`: dict rows, INSERT)", r["before"]),
        *row("after (typed: Arrow, CSV, COPY)", r["after"]),
        "",
        "Process CPU seconds (robust to the machine's load, unlike wall time): bare walk "
        f"{r['walk_cpu']:.1f}; extract before {r['before']['step_cpu']['extract']:.1f}, after "
        f"{r['after']['step_cpu']['extract']:.1f} (walk / extract CPU "
        f"{r['walk_cpu'] / r['before']['step_cpu']['extract']:.2f} → "
        f"{r['walk_cpu'] / r['after']['step_cpu']['extract']:.2f}); normalise + load before "
        f"{r['before']['step_cpu']['normalize'] + r['before']['step_cpu']['load']:.1f}, after "
        f"{r['after']['step_cpu']['normalize'] + r['after']['step_cpu']['load']:.1f}.",
        "",
        "Targets (issue 18 item 1): end to end ≥ 0.25 of COPY, normalise + load ≥ 0.5 of COPY, "
        "extract ≥ 0.8 of the bare walk (walk / extract), peak RSS ≤ 1 GB. `fub.people` is the "
        "child process's wall time of the load (API → raw); end to end adds `dbt run "
        "--full-refresh` of `stg_fub__people` + `people`; peak RSS is the child's.",
        "",
        "A/B (the same pages, the two raw tables; columns and types, `except all` both ways on "
        "every non-`_dlt_` column): "
        + (
            "identical."
            if r["identical"]
            else "the same rows; columns that only one side has are NULL in every row."
            if r["same_rows"]
            else "they DIFFER."
        )
        + ("" if r["identical"] else f"\n\n```\n{r['diff']}\n```"),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000, help="people of agent 101")
    parser.add_argument("--scale", default=None, help="a sandbox scale (e.g. seed) instead")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--before-ref", default=BEFORE_REF, help="the code to measure as before")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    result = run(None if args.scale else args.people, args.scale, args.seed, args.before_ref)
    command = "python -m bench.bench_copyload " + shlex.join(argv or sys.argv[1:])
    out = report(result, command.strip())
    print(out)
    if not args.no_write:
        with RESULTS.open("a") as fh:
            fh.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
