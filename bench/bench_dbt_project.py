"""The dbt project before and after issue 19 (readable models, one staging layer): nodes and builds.

One command::

    .venv/bin/python -m bench.bench_dbt_project                 # scale tiny, each build twice
    .venv/bin/python -m bench.bench_dbt_project --scale small --repeat 3

In a data dir of its own (embedded PostgreSQL) it loads every source for every sandbox agent
(an onboarding, then a daily sync a sandbox day later), then for each project, the one before
(``dbt_project/`` at ``tests.dbt_projects.OLD_PROJECT_COMMIT``, from git) and this checkout's,
alternately, ``--repeat`` times:

- a **full** ``dbt build`` from nothing (no model, no processed state: a first build);
- a **no-op** ``dbt build`` right after it (no new load: what a quiet day's rebuild costs).

Nodes are counted from each project's manifest (``dbt parse``). Each build is its own ``dbt``
process, timed from start to exit (parse included, as a deployment pays it). The table gives the
median seconds and the after/before ratio measured in the same run; the result is appended to
``bench/results.md`` with the date, commit, machine and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"


def _nodes(project: Path, target: Path) -> Counter:
    from tests.dbt_projects import run_project

    run_project(project, target, "parse")
    manifest = json.loads((target / "manifest.json").read_text())
    count: Counter = Counter()
    for node in manifest["nodes"].values():
        kind = node["resource_type"]
        if kind == "model":
            kind = f"model ({node['config']['materialized']})"
        count[kind] += 1
    count["unit test"] = len(manifest.get("unit_tests", {}))
    count["source"] = len(manifest["sources"])
    count["macro (project)"] = sum(
        1 for m in manifest["macros"].values() if m["package_name"] == "agentsync"
    )
    return count


def _node_seconds(target: Path) -> Counter:
    """Seconds dbt spent per kind of node in the last invocation (run_results.json)."""
    results = json.loads((target / "run_results.json").read_text())
    out: Counter = Counter()
    for r in results["results"]:
        kind = r["unique_id"].split(".")[0]
        out[kind] += float(r.get("execution_time") or 0.0)
    return out


def _build(project: Path, target: Path) -> tuple[float, float, int, Counter, Counter]:
    """(full build s, no-op build s, failed tests, node seconds of each) from a fresh state."""
    from tests.dbt_projects import reset_models, run_project

    reset_models()
    started = time.perf_counter()
    full = run_project(project, target, "build", check=False)
    full_s = time.perf_counter() - started
    full_nodes = _node_seconds(target)
    started = time.perf_counter()
    noop = run_project(project, target, "build", check=False)
    noop_s = time.perf_counter() - started
    noop_nodes = _node_seconds(target)
    for done in (full, noop):
        if done.returncode not in (0, 1) or "ERROR creating" in done.stdout:
            raise SystemExit(f"{project}: dbt build failed to run:\n{done.stdout[-4000:]}")
    failed = noop.stdout.count(" FAIL ")
    return full_s, noop_s, failed, full_nodes, noop_nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print, do not append to results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dbt-project-"))
    os.environ["AGENTSYNC_DATA_DIR"] = str(work / "data")
    for key in [k for k in os.environ if k.startswith("AGENTSYNC_") and k != "AGENTSYNC_DATA_DIR"]:
        if key != "AGENTSYNC_SANDBOX_EPOCH":
            del os.environ[key]
    from agentsync import db
    from sandbox.core import start_in_thread
    from tests.dbt_projects import PROJECT_DIR, load_quirky_days, old_project

    load_before = os.getloadavg()
    sandbox = start_in_thread(seed=42, scale=args.scale)
    try:
        for key, value in sandbox.sandbox.env().items():
            os.environ[key] = value
        db.ensure_ready()
        started = time.perf_counter()
        load_quirky_days(sandbox, quirks=False)
        load_s = time.perf_counter() - started
        projects = {
            "before": old_project(work / "old"),
            "after": work / "new" / "dbt_project",
        }
        shutil.copytree(
            PROJECT_DIR, projects["after"], ignore=shutil.ignore_patterns("target", "logs")
        )
        nodes = {name: _nodes(p, work / f"{name}_target") for name, p in projects.items()}
        runs: dict[str, list] = {name: [] for name in projects}
        for _ in range(args.repeat):
            for name, project in projects.items():
                runs[name].append(_build(project, work / f"{name}_target"))
        with db.begin() as conn:
            from sqlalchemy import text

            raw_rows = sum(
                conn.execute(text(f'select count(*) from {s}."{t}"')).scalar()
                for s, t in conn.execute(
                    text(
                        "select table_schema, table_name from information_schema.tables "
                        "where table_schema like 'raw\\_%' and table_name not like '\\_dlt%'"
                    )
                ).all()
            )
    finally:
        sandbox.stop()
        db.stop_embedded()
    load_after = os.getloadavg()
    report = _report(args, nodes, runs, raw_rows, load_s, load_before, load_after)
    print(report)
    if not args.no_write:
        with RESULTS.open("a") as out:
            out.write("\n" + report)
    shutil.rmtree(work, ignore_errors=True)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _report(args, nodes, runs, raw_rows, load_s, load_before, load_after) -> str:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    from tests.dbt_projects import OLD_PROJECT_COMMIT

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform(terse=True)}"
    kinds = sorted(set(nodes["before"]) | set(nodes["after"]))
    lines = [
        "## dbt project before / after issue 19 (readable models, one staging layer)",
        "",
        f"`python -m bench.bench_dbt_project --scale {args.scale} --repeat {args.repeat}` "
        f"({when}; commit {commit}, before = `dbt_project/` at {OLD_PROJECT_COMMIT[:7]}; "
        f"{machine}; load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the "
        f"end, the machine shared with other work: the ratios are the measurement). Raw data: "
        f"every source for every sandbox agent, an onboarding and a daily sync a day later "
        f"({raw_rows:,} raw rows, loaded in {load_s:.0f} s). Each build is one `dbt build` "
        f"process (parse included), from nothing (full) and right after (no-op: no new load); "
        f"the two projects alternate, the median of {args.repeat} is shown.",
        "",
        "| nodes | before | after |",
        "| --- | --- | --- |",
    ]
    for kind in kinds:
        lines.append(f"| {kind} | {nodes['before'][kind]} | {nodes['after'][kind]} |")
    lines += ["", "| build | before | after | **after / before** |", "| --- | --- | --- | --- |"]
    for i, label in ((0, "full `dbt build`"), (1, "no-op `dbt build`")):
        before = _median([r[i] for r in runs["before"]])
        after = _median([r[i] for r in runs["after"]])
        lines.append(f"| {label} | {before:.1f} s | {after:.1f} s | **{after / before:.2f}** |")
    lines += [
        "",
        "Seconds dbt reports per kind of node (sum of node execution times, median run; the",
        "rest of a build's wall time is dbt starting, parsing and running the project hooks):",
        "",
        "| build | kind | before | after |",
        "| --- | --- | --- | --- |",
    ]
    for i, label in ((3, "full"), (4, "no-op")):
        for kind in ("model", "test", "unit_test"):
            before = _median([r[i][kind] for r in runs["before"]])
            after = _median([r[i][kind] for r in runs["after"]])
            lines.append(f"| {label} | {kind} | {before:.1f} s | {after:.1f} s |")
    fails = {name: max(r[2] for r in rs) for name, rs in runs.items()}
    lines += ["", f"Failed data tests in the no-op builds: before {fails['before']}, after "
              f"{fails['after']}.", ""]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
