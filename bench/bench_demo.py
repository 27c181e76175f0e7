"""``make demo``'s wall time, and what its configuration choices cost (issue 17 item 6).

One command::

    .venv/bin/python -m bench.bench_demo                 # each configuration once
    .venv/bin/python -m bench.bench_demo --repeat 2

Each run is ``agentsync demo`` (what ``make demo`` runs: embedded PostgreSQL, the sandbox at
scale tiny, three agents onboarded, a day advanced, the daily sync) in a fresh empty data dir,
one run at a time, its output in a pipe. Configurations, measured in the same invocation:

- ``default``: the settings as shipped (dbt as one step, one onboarding slot per demo agent);
- ``task-per-node``: ``AGENTSYNC_DBT_TASK_PER_NODE=true`` (each dbt node a Prefect task run);
- ``before``: both as they were before (task per node, ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS=2``).

The baseline is ``before``: the table gives each configuration's wall time as a ratio of it, and
the seconds the step lines report for the onboardings' and the daily sync's ``dbt.build`` and
``quality.gate``. Results are appended under a "make demo" heading in ``bench/results.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
CONFIGS: dict[str, dict[str, str]] = {
    "before": {"AGENTSYNC_DBT_TASK_PER_NODE": "true", "AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS": "2"},
    "task-per-node": {"AGENTSYNC_DBT_TASK_PER_NODE": "true"},
    "default": {},
}
STEP = re.compile(r"✓ (agent \d+|all agents): (dbt\.build|quality\.gate) done .*\((\d+\.\d)s\)")


def run_once(name: str, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSYNC_")}
    env.update(CONFIGS[name], AGENTSYNC_DATA_DIR=str(workdir / f"{name}-{time.monotonic_ns()}"))
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("agentsync")), "demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    steps: dict[str, list[float]] = {}
    for who, step, seconds in STEP.findall(proc.stdout + proc.stderr):
        kind = "daily" if who == "all agents" else "onboarding"
        steps.setdefault(f"{kind} {step}", []).append(float(seconds))
    return {"name": name, "rc": proc.returncode, "wall": wall, "steps": steps}


def _fmt(values: list[float] | None) -> str:
    return " + ".join(f"{v:.0f}" for v in values) if values else "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    names = [n for n in args.configs.split(",") if n]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"--configs: unknown {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        for _ in range(args.repeat):
            for name in names:
                run = run_once(name, Path(tmp))
                print(f"{name}: rc={run['rc']} {run['wall']:.0f}s {run['steps']}", flush=True)
                runs.append(run)
    base = [r["wall"] for r in runs if r["name"] == "before" and r["rc"] == 0]
    baseline = sum(base) / len(base) if base else None
    lines = [
        "| configuration | rc | wall | / before | onboarding dbt.build s | onboarding gate s "
        "| daily dbt.build s | daily gate s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        ratio = f"{r['wall'] / baseline:.2f}" if baseline else "—"
        s = r["steps"]
        lines.append(
            f"| {r['name']} | {r['rc']} | {r['wall']:.0f} s | {ratio} "
            f"| {_fmt(s.get('onboarding dbt.build'))} | {_fmt(s.get('onboarding quality.gate'))} "
            f"| {_fmt(s.get('daily dbt.build'))} | {_fmt(s.get('daily quality.gate'))} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        command = shlex.join(["python", "-m", "bench.bench_demo", *(argv or sys.argv[1:])])
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        with RESULTS.open("a") as out:
            out.write(f"\n## make demo: configurations ({when})\n\n`{command}`, one run at a time "
                      f"on this 2-core machine, each in a fresh data dir:\n\n{table}\n")  # fmt: skip
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
