"""Whole-pipeline benchmark against the physical floor (issue 9).

One command::

    .venv/bin/python -m bench.bench_pipeline --scale seed      # the legacy volumes
    .venv/bin/python -m bench.bench_pipeline --scale small     # a quick check

What it does, in one fresh data dir with its own embedded PostgreSQL:

1. starts the sandbox in a **separate process** (so serving JSON does not share this process's
   GIL with the pipeline) with FUB's rate limiter and SkySlope's reported budget off — the run
   is pipeline-bound;
2. registers every sandbox agent with its credentials;
3. **full onboarding**: every source step of every agent (API → raw), then the flows' own post
   steps: ``flows.after_load.dbt_build`` (``dbt build`` of the models downstream of the new loads,
   tests included; every model on the first build) and ``flows.after_load.quality_gate`` (GX
   checkpoint and drift, as a flow runs it: dbt's tests ran in the build);
4. advances the sandbox clock with 1% of records changed, then a **daily sync** (incremental
   steps + dbt + gate);
5. a **daily sync with no change**;
6. the **floor**: PostgreSQL ``COPY`` of the same raw rows into copies of the same raw tables
   (``COPY ... TO`` a file, then ``COPY ... FROM`` it into ``create table (like ...)`` clones).

Per stage — extract (dlt extract incl. HTTP), normalise (dlt normalize), load (dlt load), dbt,
GX — it prints rows/s, seconds, and the ratio to the floor's rows/s; the ratio of the 1%-change
sync to the full load; and the peak memory (RSS) of this process tree (the sandbox process and the
PostgreSQL server are measured separately). Results are appended to ``bench/results.md`` with the
machine's description and the command.

Stage times come from wrapping ``dlt.Pipeline.extract/normalize/load`` in this process only (the
sources call ``pipeline.run``, which calls those three in turn).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.md"


# ------------------------------------------------------------------------------------------------
# measurement helpers
# ------------------------------------------------------------------------------------------------


class PeakMemory:
    """Samples the RSS of a process tree (default: this process and its children) every 50 ms."""

    def __init__(self, root_pid: int | None = None, exclude: set[int] | None = None) -> None:
        self.root = psutil.Process(root_pid or os.getpid())
        self.exclude = exclude or set()
        self.peak = 0
        self.by_stage: dict[tuple[str, str], int] = defaultdict(int)  # (phase, stage) -> peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        total = 0
        procs = [self.root]
        with contextlib.suppress(psutil.Error):
            procs += self.root.children(recursive=True)
        for p in procs:
            if p.pid in self.exclude:
                continue
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._tree_rss()
            self.peak = max(self.peak, rss)
            if _where is not None:
                self.by_stage[_where] = max(self.by_stage[_where], rss)
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._tree_rss())


@dataclass
class StageTimes:
    """Seconds and rows per stage, accumulated over every pipeline run in a phase."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, stage: str, seconds: float, rows: int = 0) -> None:
        self.seconds[stage] += seconds
        self.rows[stage] += rows


_current: StageTimes | None = None
_where: tuple[str, str] | None = None  # (phase, stage) now running, for per-stage peak memory
_phase_name = ""


def _enter_stage(stage: str | None) -> tuple[str, str] | None:
    global _where
    previous = _where
    _where = (_phase_name, stage) if stage else None
    return previous


def _instrument_dlt() -> None:
    """Wrap dlt's extract/normalize/load so every pipeline run reports its stage times."""
    import dlt

    def wrap(name: str, stage: str):
        original = getattr(dlt.Pipeline, name)

        def timed(self, *args, **kwargs):
            global _where
            started = time.perf_counter()
            previous = _enter_stage(stage)
            try:
                return original(self, *args, **kwargs)
            finally:
                _where = previous
                if _current is not None:
                    rows = 0
                    if stage == "normalise":
                        with contextlib.suppress(Exception):
                            info = self.last_trace.last_normalize_info
                            rows = sum(info.row_counts.values()) if info else 0
                    _current.add(stage, time.perf_counter() - started, rows)

        setattr(dlt.Pipeline, name, timed)

    wrap("extract", "extract")
    wrap("normalize", "normalise")
    wrap("load", "load")


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------


def _start_sandbox(scale: str, seed: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    from sandbox.core import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentsync.cli", "sandbox", "serve", "--port", str(port),
         "--scale", scale, "--seed", str(seed), "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    buf = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("sandbox process exited before printing its URLs")
        buf += line
        with contextlib.suppress(json.JSONDecodeError):
            return proc, json.loads(buf)


def _raw_tables(conn) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            """
            select table_schema, table_name from information_schema.tables
             where table_schema like 'raw\\_%' and table_schema not like '%\\_staging'
               and table_name not like '\\_dlt\\_%' and table_type = 'BASE TABLE'
             order by 1, 2
            """
        )
    ).all()
    return [(r[0], r[1]) for r in rows]


DELETION_TABLES = ("id_snapshots", "id_snapshot_runs", "id_changes")


def _raw_row_count(conn, tables: tuple[str, ...] | None = None) -> int:
    """Rows in every raw table (or only in raw tables of these names)."""
    total = 0
    for schema, table in _raw_tables(conn):
        if tables is None or table in tables:
            total += conn.execute(text(f'select count(*) from "{schema}"."{table}"')).scalar()
    return total


def _raw_growth() -> tuple[int, int]:
    """(all raw rows, deletion-bookkeeping raw rows) now."""
    from agentsync import db

    with db.engine().connect() as conn:
        return _raw_row_count(conn), _raw_row_count(conn, DELETION_TABLES)


def measure_floor(workdir: Path) -> dict[str, float]:
    """COPY every raw row out and back into ``like`` clones of the raw tables; rows/s of the load."""
    from agentsync import db

    raw = db.engine().raw_connection()
    rows = 0
    seconds = 0.0
    try:
        cur = raw.cursor()
        with db.engine().connect() as conn:
            tables = _raw_tables(conn)
        for schema, table in tables:
            path = workdir / f"{schema}.{table}.copy"
            with path.open("w") as fh:
                cur.copy_expert(f'copy "{schema}"."{table}" to stdout', fh)
            clone = f'"{schema}"."{table}__floor"'
            cur.execute(
                f'drop table if exists {clone}; create table {clone} (like "{schema}"."{table}")'
            )
            raw.commit()
            started = time.perf_counter()
            with path.open("r") as fh:
                cur.copy_expert(f"copy {clone} from stdin", fh)
            raw.commit()
            seconds += time.perf_counter() - started
            cur.execute(f"select count(*) from {clone}")
            rows += cur.fetchone()[0]
            cur.execute(f"drop table {clone}")
            raw.commit()
            path.unlink()
    finally:
        raw.close()
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds if seconds else 0.0}


def run_sources(kind: str, user_ids: list[int]) -> tuple[int, list[str]]:
    """Every connected source step for every agent, in dependency order; returns rows, failures."""
    from agentsync import agents
    from dlt_pipelines import registry

    steps = registry.all_steps()
    rows = 0
    failures: list[str] = []
    for uid in user_ids:
        connected = set(agents.connected_integrations(uid))
        done: set[str] = set()
        for spec in steps:
            if spec.source not in connected:
                continue
            if any(d not in done for d in spec.depends_on if d.split(".")[0] in connected):
                failures.append(f"{uid} {spec.key}: dependency not done")
                continue
            started = time.perf_counter()
            try:
                results = spec.run(uid, kind, None)
                step_rows = sum(r.rows for r in results)
                rows += step_rows
                done.add(spec.key)
                _progress(f"{kind} agent {uid} {spec.key}: {step_rows:,} rows", started)
            except Exception as err:  # recorded, the bench goes on (and reports it)
                failures.append(f"{uid} {spec.key}: {type(err).__name__}: {err}"[:300])
                _progress(f"{kind} agent {uid} {spec.key}: FAILED {type(err).__name__}", started)
    return rows, failures


def _progress(message: str, started: float | None = None) -> None:
    """One progress line on stderr (a seed-scale run takes long; the operator sees it move)."""
    took = f" ({time.perf_counter() - started:.1f} s)" if started is not None else ""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}{took}", file=sys.stderr, flush=True)


def phase(name: str, kind: str, user_ids: list[int]) -> dict[str, Any]:
    """One phase as a flow runs it: sources → the flows' dbt build (only the models downstream of
    the new loads, tests included) → the flows' quality gate (GX checkpoint and drift)."""
    global _current, _phase_name, _where
    _phase_name = name
    from agentsync import agents
    from flows.after_load import dbt_build, quality_gate

    times = StageTimes()
    _current = times
    started = time.perf_counter()
    rows, failures = run_sources(kind, user_ids)
    _current = None
    t0 = time.perf_counter()
    _enter_stage("dbt")
    loaded = {s for uid in user_ids for s in agents.connected_integrations(uid)}
    build = dbt_build(loaded)
    times.add("dbt", time.perf_counter() - t0)
    what = f"{build.rows} models" if build.status == "done" else build.error
    _progress(f"{name}: dbt build {build.status} ({what})", t0)
    if build.status == "failed":
        failures.append(f"dbt: {build.error}"[:300])
    t0 = time.perf_counter()
    _enter_stage("gx")
    gate = quality_gate(user_ids)
    times.add("gx", time.perf_counter() - t0)
    _where = None
    _progress(f"{name}: quality gate {gate.status}", t0)
    if gate.status == "failed":
        failures.append(f"gate: {gate.error}"[:300])
    result = getattr(gate, "result", None)
    parts = dict(getattr(result, "seconds", {}) or {})
    recounted = getattr(result, "recounted", {}) or {}
    every = sum(1 for v in recounted.values() if v is None)
    agents_recounted = len({u for v in recounted.values() if v for u in v})
    return {
        "name": name,
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "stages": dict(times.seconds),
        "normalised_rows": times.rows.get("normalise", 0),
        "failures": failures,
        "dbt": f"{build.status}: {what}",
        "gate_parts": parts,
        "gate_recounted": f"{every} entities counted for every agent, "
        f"{len(recounted) - every} recounted for {agents_recounted} agent(s), "
        f"{max(0, _entity_count() - len(recounted))} kept",
    }


def _entity_count() -> int:
    from agentsync.entities import all_entities

    return len(all_entities())


def _rel(ph: dict[str, Any], full: dict[str, Any], stage: str) -> str:
    base = full["stages"].get(stage, 0.0)
    return f"{ph['stages'].get(stage, 0.0) / base:.3f}" if base > 0 else "-"


def _fmt_rate(rows: float, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def report(args: argparse.Namespace, info: dict[str, Any]) -> str:
    floor = info["floor"]
    full = info["phases"][0]
    lines = [
        f"## Whole pipeline (`--scale {args.scale}`)",
        "",
        f"Command: `{info['command']}` — {info['when']}.",
        f"Machine: {info['machine']}.",
        "",
        f"Raw rows after the full onboarding: {info['raw_rows']:,}; "
        f"agents: {info['agents']}; sandbox scale `{args.scale}`, "
        "FUB rate limiter and SkySlope budget off.",
        f"Floor: PostgreSQL COPY of the same {floor['rows']:,} raw rows into clones of the raw "
        f"tables: {floor['seconds']:.2f} s = **{floor['rows_per_s']:,.0f} rows/s**.",
        "",
        "| phase | stage | seconds | share of phase | rows/s | ratio to floor | peak RSS (MB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for ph in info["phases"]:
        rows = ph["normalised_rows"] or ph["rows"]
        for stage in ("extract", "normalise", "load", "dbt", "gx"):
            secs = ph["stages"].get(stage, 0.0)
            rate = rows / secs if secs > 0 else 0.0
            ratio = rate / floor["rows_per_s"] if floor["rows_per_s"] and rate else 0.0
            mem = info["stage_peaks_mb"].get(f"{ph['name']}/{stage}", 0.0)
            share = secs / ph["seconds"] if ph["seconds"] else 0.0
            lines.append(
                f"| {ph['name']} | {stage} | {secs:.2f} | {share:.0%} | {_fmt_rate(rows, secs)} "
                f"| {ratio:.3f} | {mem:,.0f} |"
            )
        lines.append(
            f"| {ph['name']} | **total** | {ph['seconds']:.2f} | 100% "
            f"| {_fmt_rate(rows, ph['seconds'])} | | |"
        )
    change, nochange = info["phases"][1], info["phases"][2]
    lines += [
        "",
        f"- 1%-change daily sync / full onboarding (seconds): "
        f"**{change['seconds'] / full['seconds']:.3f}**; no-change sync / full: "
        f"**{nochange['seconds'] / full['seconds']:.3f}**.",
        "- Raw rows added: "
        + "; ".join(
            f"{ph['name']} {ph['raw_added']:,} (deletion bookkeeping {ph['deletion_rows_added']:,})"
            for ph in (change, nochange)
        )
        + ".",
        "- dbt build per phase: "
        + "; ".join(f"{ph['name']} {ph['dbt']}" for ph in info["phases"])
        + ".",
        "- dbt and quality gate, seconds relative to the full onboarding's: "
        + "; ".join(
            f"{ph['name']} dbt {_rel(ph, full, 'dbt')}, gate {_rel(ph, full, 'gx')}"
            for ph in (change, nochange)
        )
        + ".",
        "- Quality gate per phase (seconds by part; counts kept or recounted): "
        + "; ".join(
            f"{ph['name']} "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(ph["gate_parts"].items()))
            + f" ({ph['gate_recounted']})"
            for ph in info["phases"]
        )
        + ".",
        f"- Peak memory (RSS) of the pipeline process tree: **{info['peak_mb']:,.0f} MB** "
        f"(sandbox process peak {info['sandbox_peak_mb']:,.0f} MB, measured separately; "
        "the PostgreSQL server is not included).",
    ]
    fails = [f for ph in info["phases"] for f in ph["failures"]]
    if fails:
        lines += ["", "Failures during the run (they count against the result):", ""]
        lines += [f"- {f}" for f in fails[:20]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small", help="tiny, small, medium, seed or N people")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fraction", type=float, default=0.01, help="share changed before sync 2")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; don't touch results.md"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="agentsync-bench-"))
    os.environ["AGENTSYNC_DATA_DIR"] = str(workdir / "data")
    os.environ.pop("AGENTSYNC_DATABASE_URL", None)
    sandbox_proc, sandbox_info = _start_sandbox(args.scale, args.seed)
    sandbox_mem = PeakMemory(sandbox_proc.pid)
    try:
        os.environ.update(sandbox_info["env"])
        url = sandbox_info["url"]
        httpx.post(f"{url}/_sandbox/fub/ratelimit", json={"enabled": False}, timeout=30)
        # and SkySlope's reported per-session budget (1,000/min), which the client paces by: at
        # seed scale it alone made the onboarding wait ~45 min for 40k file reads
        httpx.post(f"{url}/_sandbox/limits", json={"enabled": False}, timeout=30)
        _instrument_dlt()
        from agentsync import agents, db

        db.ensure_ready()
        user_ids = []
        for agent in sandbox_info["agents"]:
            agents.add_agent(agent["user_id"], agent["name"], agent["credentials"])
            user_ids.append(agent["user_id"])
        phases = []
        with sandbox_mem, PeakMemory(exclude={sandbox_proc.pid}) as mem:
            phases.append(phase("full onboarding", "onboarding", user_ids))
            growth = [_raw_growth()]
            raw_rows = growth[0][0]
            httpx.post(
                f"{url}/_sandbox/advance",
                json={"seconds": 86_400, "fraction": args.fraction},
                timeout=600,
            )
            phases.append(phase(f"daily sync, {args.fraction:.0%} changed", "daily", user_ids))
            growth.append(_raw_growth())
            phases.append(phase("daily sync, no change", "daily", user_ids))
            growth.append(_raw_growth())
            for ph, before, after in zip(phases[1:], growth[:-1], growth[1:], strict=True):
                ph["raw_added"] = after[0] - before[0]
                ph["deletion_rows_added"] = after[1] - before[1]
            floor = measure_floor(workdir)
        cpu = platform.processor() or platform.machine()
        info = {
            "command": "python -m bench.bench_pipeline " + shlex.join(argv or sys.argv[1:]),
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores ({cpu}), "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}",
            "agents": len(user_ids),
            "raw_rows": raw_rows,
            "floor": floor,
            "phases": phases,
            "peak_mb": mem.peak / 2**20,
            "stage_peaks_mb": {f"{p}/{st}": v / 2**20 for (p, st), v in mem.by_stage.items()},
            "sandbox_peak_mb": sandbox_mem.peak / 2**20,
        }
    finally:
        sandbox_proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            sandbox_proc.wait(timeout=20)
    summary = report(args, info)
    print(summary)
    if not args.no_write:
        existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + summary)
    return 0 if not any(ph["failures"] for ph in info["phases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
