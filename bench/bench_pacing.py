"""Shared request pacing: what it costs and how much of a vendor budget it uses (issue 17).

One command::

    .venv/bin/python -m bench.bench_pacing            # 2 processes x 8 threads on one account
    .venv/bin/python -m bench.bench_pacing --processes 4 --limit 100 --requests 400

In a fresh data dir with its own embedded PostgreSQL and a sandbox process on loopback, several
processes (``tests/fub/pacing_probe.py``, each with its own threads) walk one agent's FUB
account together, started at one instant. Measured in the same run:

1. **Cost of sharing**: the walk with the limit set far above what is sent (headers present, so
   every request takes its slot, nothing waits), shared pacing on vs off; the baseline is the
   same walk with the sandbox's limiter off (no headers: no pacing at all).
2. **Budget share**: the walk with the limit set to ``--limit`` per 10 s (default FUB's own
   global limit, 250), so it is API-bound: the least time the limit allows for the requests
   the sandbox served (the i-th can come ``floor(i / limit)`` windows after the first) over the
   time they took, from the sandbox's own request times (``bench.bench_fleet.budget_share``, the
   fleet benchmark's measure too); and the 429s the sandbox answered. The earlier report's
   formula, ``(requests - limit) / (elapsed x limit / 10)``, is shown beside it: over a walk of
   a few windows it mostly says how the last window is cut (400 requests at 100 per 10 s take
   five bursts of 95 where four of 100 would do: its 0.61 was largely that), so the walk is long
   (``--requests``, default ten windows' worth).

Results are appended under a "Pacing" heading in ``bench/results.md``.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
WINDOW_S = 10


def _walk(env: dict[str, str], processes: int, threads: int, per_thread: int, shared: bool,
          workdir: Path) -> tuple[float, int]:  # fmt: skip
    """All processes walk at once; (seconds from the go signal to the last answer, 429s)."""
    go = workdir / f"go-{time.monotonic_ns()}"
    penv = {
        **env,
        "AGENTSYNC_SHARED_REQUEST_PACING": "true" if shared else "false",
        "AGENTSYNC_FUB_MAX_CONCURRENT_REQUESTS": str(threads),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "tests.fub.pacing_probe", "101", str(threads), str(per_thread)]
    procs = [
        subprocess.Popen([*cmd, str(go)], cwd=ROOT, env=penv, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a probe process failed to start")
    started = time.perf_counter()
    go.touch()
    outs = [proc.communicate()[0] for proc in procs]
    elapsed = time.perf_counter() - started
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    expected = threads * per_thread
    if any(r["served"] != expected for r in results):
        raise SystemExit(f"a probe was not served every request: {results}")
    return elapsed, sum(int(r["responses_429"]) for r in results)


def run(processes: int, threads: int, requests: int, limit: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="agentsync-bench-pacing-"))
    for key in [k for k in os.environ if k.startswith("AGENTSYNC_")]:
        del os.environ[key]
    os.environ["AGENTSYNC_DATA_DIR"] = str(data_dir)

    import httpx

    from agentsync import agents, db
    from bench.bench_fleet import budget_share
    from bench.bench_pipeline import _progress, _start_sandbox

    per_thread = max(1, requests // (processes * threads))
    total = per_thread * processes * threads
    db.ensure_ready()
    sandbox_proc, info = _start_sandbox("tiny", 42)
    os.environ.update(info["env"])
    control = f"{info['url']}/_sandbox/fub/ratelimit"
    env = {k: v for k, v in os.environ.items()}
    out: dict[str, Any] = {"processes": processes, "threads": threads, "total": total,
                           "limit": limit}  # fmt: skip
    try:
        demo = next(a for a in info["agents"] if a["user_id"] == 101)
        agents.add_agent(101, demo["name"], {"fub": demo["credentials"]["fub"]})
        env.update({k: v for k, v in os.environ.items() if k.startswith("AGENTSYNC_")})

        def walk(enabled: bool, lim: int | None, shared: bool) -> tuple[float, int, float]:
            """(seconds, 429s, budget share from the sandbox's counters)."""
            body: dict[str, Any] = {"enabled": enabled}
            if lim:
                body["limits"] = {"global": lim}
            httpx.post(control, json=body).raise_for_status()
            took, seen_429 = _walk(env, processes, threads, per_thread, shared, data_dir)
            report = httpx.get(f"{info['url']}/_sandbox/limits", params={"times": 1}).json()
            refused = sum(report["fub"]["refused"].values())
            if refused != seen_429:
                raise SystemExit(f"sandbox refused {refused}, probes saw {seen_429} 429s")
            share = 0.0
            if lim and enabled:
                share = budget_share(report["fub"]["times"]["101:global"], lim, WINDOW_S)
            return took, refused, share

        _progress(f"{total} requests from {processes} x {threads} threads: bare walk")
        out["bare_s"], _, _ = walk(False, None, True)
        _progress("limit far above the walk: shared pacing on")
        out["shared_s"], _, _ = walk(True, 10 * total, True)
        _progress("limit far above the walk: shared pacing off")
        out["local_s"], _, _ = walk(True, 10 * total, False)
        _progress(f"limit {limit} per {WINDOW_S} s: shared pacing on")
        out["bound_s"], out["bound_429"], out["bound_share"] = walk(True, limit, True)
        _progress(f"limit {limit} per {WINDOW_S} s: shared pacing off (each process alone)")
        out["alone_s"], out["alone_429"], out["alone_share"] = walk(True, limit, False)
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(timeout=30)
        db.stop_embedded()
    for key in ("bound", "alone"):  # the earlier report's formula, for comparison
        out[f"{key}_rate_share"] = (total - limit) / (out[f"{key}_s"] * limit / WINDOW_S)
    return out


def report(r: dict[str, Any], command: str) -> str:
    bare = r["bare_s"]
    return f"""
## Pacing: {r["processes"]} processes x {r["threads"]} threads on one FUB account ({time.strftime("%Y-%m-%d")})

Command: `{command}` · {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}

| what | seconds | vs bare walk |
|---|---|---|
| bare walk, {r["total"]} requests (limiter off: no headers, no pacing) | {bare:.2f} | 1.00 |
| limit far above the walk, shared pacing on (2 statements per request) | {r["shared_s"]:.2f} | {r["shared_s"] / bare:.2f} |
| limit far above the walk, each process paced alone (no database) | {r["local_s"]:.2f} | {r["local_s"] / bare:.2f} |

| limit {r["limit"]} per {WINDOW_S} s (API-bound) | seconds | 429s answered | budget share (least time the limit allows / time taken) | earlier formula ((requests - limit) / (elapsed x limit / {WINDOW_S})) |
|---|---|---|---|---|
| shared pacing on | {r["bound_s"]:.1f} | {r["bound_429"]} | {r["bound_share"]:.2f} | {r["bound_rate_share"]:.2f} |
| each process paced alone | {r["alone_s"]:.1f} | {r["alone_429"]} | {r["alone_share"]:.2f} | {r["alone_rate_share"]:.2f} |

The budget share is the least time a limit of {r["limit"]} per {WINDOW_S} s allows for the requests
served (the i-th can come floor(i / limit) windows after the first) over the time they took, from
the sandbox's request times. The reserve (5 per window) and each request counting until a window
after its answer keep it below 1; requests refused (429) are sent again and count once.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--requests", type=int, default=2_500, help="in all, every process together"
    )
    parser.add_argument(
        "--limit", type=int, default=250, help="API-bound limit per 10 s (FUB's global: 250)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    result = run(args.processes, args.threads, args.requests, args.limit)
    command = "python -m bench.bench_pacing " + shlex.join(argv or sys.argv[1:])
    out = report(result, command.strip())
    print(out)
    if not args.no_write:
        with RESULTS.open("a") as fh:
            fh.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
