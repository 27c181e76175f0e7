"""The fleet's daily sync at concurrency 1, 4, 16 and 32, in one run (issue 17 items 5 and 7).

One command::

    .venv/bin/python -m bench.bench_fleet                      # 48 agents, levels 1 4 16 32
    .venv/bin/python -m bench.bench_fleet --agents 16 --levels 1,4 --no-write   # a quick check

What it does, in one fresh data dir with its own embedded PostgreSQL:

1. starts the sandbox's ``fleet`` profile (250 agents, each with its own accounts and
   credentials, mostly 1-5k FUB people and a few large accounts; every vendor's limits on:
   ``sandbox/world.py``) in a separate process, and measures its start-up and memory;
2. registers the fleet's first ``--agents`` agents (the first 48 have the fleet's mix: one large
   account of 40k people, four mid-sized, the rest 1-5k) with their own credentials;
3. **initial load, cheap**: every agent's onboarding steps with the sandbox's limits switched
   off (``--initial-concurrency`` agents at a time), then one dbt build and the gate. What a
   daily sync does depends on what is loaded (cursors, ids held, texts asked), not on how fast
   it was loaded, so this state is the one a rate-limited onboarding leaves, in minutes instead
   of hours (a 40k-people account's onboarding asks FUB ~14k requests: 9 minutes at its limit);
4. then, per concurrency level (``--levels``), with **every vendor's limits on**: the sandbox's
   clock moves one day with ``--fraction`` of the records changed (created, updated, trashed,
   deleted; new events, deals, orders...), its counters are reset, and the daily sync runs as an
   operator runs it: ``agentsync sync --json`` in its own process with
   ``AGENTSYNC_MAX_CONCURRENT_SYNCS`` set to the level (extraction, one dbt build, the quality
   gate, health, alerts).

Measured per level: the whole sync's wall time and its **extraction** wall time (first start to
last end of the level's ``ops.sync_runs``: the part concurrency acts on; dbt and the gate run
once for all agents), the speed-up of each against concurrency 1 (issue 17's goal: at least
0.7 x concurrency while the work is API-bound), the CPU seconds of the sync's process tree, the
sandbox and PostgreSQL (CPU-bound when they add up to the machine's cores), peak RSS of the
sync's process tree (goal at concurrency 32: at most 2 GB), of the sandbox and of PostgreSQL
(proportional set size: the server's shared memory counted once), the most database
connections at once, and from the sandbox's own counters per vendor account: requests served
and refused (429) and each account's **budget share** during extraction — the requests served
against the most its limit lets through between its first and last request (``served /
(limit x (1 + span / window))``), given for the accounts the level kept API-bound (more requests
than one window allows).

Results are appended under a "Fleet" heading in ``bench/results.md`` with the command, date,
commit, machine and load average (the machine is shared; ratios within one run are the
measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
GOAL_SPEEDUP = 0.7  # x concurrency, while API-bound
GOAL_SHARE = 0.8
GOAL_RSS_MB = 2048


def _progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# measuring processes
# ------------------------------------------------------------------------------------------------


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL server's processes (postmaster and its children)."""
    pgdata = str(data_dir / "pgdata")
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = proc.info["cmdline"] or []
            if proc.info["name"] == "postgres" and pgdata in " ".join(cmd) and "-D" in cmd:
                return [proc, *proc.children(recursive=True)]
    return []


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds of a process and its reaped children."""
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return t.user + t.system + t.children_user + t.children_system
    return 0.0


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def _pss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss
    return total


class Sampler:
    """While a level runs: peak RSS of the sync processes' trees and of the sandbox (every
    0.2 s), their CPU seconds over time (every 0.5 s, to tell the extraction's share),
    PostgreSQL's PSS and its connections (every 2 s)."""

    def __init__(self, sandbox_pid: int, data_dir: Path) -> None:
        self.sandbox = psutil.Process(sandbox_pid)
        self.data_dir = data_dir
        self.syncs: list[psutil.Process] = []
        self.peak = {"sync": 0, "sandbox": 0, "postgres": 0, "connections": 0}
        self.cpu: list[tuple[float, float]] = []  # (time.time(), CPU s of the sync trees so far)
        self._seen: dict[int, float] = {}  # pid -> its last CPU seconds (exited ones kept)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sync_cpu(self) -> float:
        for root in self.syncs:
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        t = p.cpu_times()
                        self._seen[p.pid] = t.user + t.system
        return sum(self._seen.values())

    def _run(self) -> None:
        from sqlalchemy import text

        from agentsync import db

        tick = 0
        while not self._stop.is_set():
            rss = sum(_tree_rss(p) for p in self.syncs)
            self.peak["sync"] = max(self.peak["sync"], rss)
            with contextlib.suppress(psutil.Error):
                self.peak["sandbox"] = max(self.peak["sandbox"], self.sandbox.memory_info().rss)
            if tick % 3 == 0:
                self.cpu.append((time.time(), self._sync_cpu()))
            if tick % 10 == 0:
                pss = _pss(_postgres_processes(self.data_dir))
                self.peak["postgres"] = max(self.peak["postgres"], pss)
                with contextlib.suppress(Exception), db.engine().connect() as conn:
                    n = conn.execute(text("select count(*) from pg_stat_activity")).scalar()
                    self.peak["connections"] = max(self.peak["connections"], int(n or 0))
            tick += 1
            self._stop.wait(0.2)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the sync processes used between two ``time.time()`` moments."""

        def at(t: float) -> float:
            before = [c for when, c in self.cpu if when <= t]
            return before[-1] if before else 0.0

        return at(end) - at(start)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------------
# the sandbox
# ------------------------------------------------------------------------------------------------


def sandbox_startup(seed: int) -> list[dict[str, Any]]:
    """Each profile's start-up in a fresh process: seconds until it serves, and its RSS then."""
    from bench.bench_pipeline import _start_sandbox

    out = []
    for scale in ("tiny", "medium", "fleet"):
        started = time.perf_counter()
        proc, info = _start_sandbox(scale, seed)
        try:
            seconds = time.perf_counter() - started
            httpx.get(f"{info['url']}/_sandbox/state", timeout=30).raise_for_status()
            rss = psutil.Process(proc.pid).memory_info().rss
            out.append(
                {"scale": scale, "agents": len(info["agents"]), "seconds": seconds, "rss": rss}
            )
        finally:
            _stop(proc)
    return out


def _stop(proc: subprocess.Popen) -> None:
    """End a process this benchmark started: SIGTERM, then SIGKILL after 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def limits(url: str, enabled: bool) -> None:
    """Every vendor's limiter on or off (FUB at its own limits), every count reset."""
    httpx.post(f"{url}/_sandbox/fub/ratelimit", json={"enabled": enabled}, timeout=60)
    httpx.post(f"{url}/_sandbox/limits", json={"enabled": enabled}, timeout=60).raise_for_status()


def fub_limit(context: str) -> int:
    from sandbox.fub_auth import LIMITS

    return LIMITS[context][0]  # agentsync sends the registered system key


HELD_BACK = 5  # an account was held at its budget when a window held limit - 5 of its requests


def stretches(times: list[float], window: float) -> list[list[float]]:
    """An account's served requests in stretches: a stretch ends where a whole window passes
    without a request."""
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][-1] < window:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def peak_in_window(times: list[float], window: float) -> int:
    """The most requests in any sliding window of ``window`` seconds."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def budget_share(times: list[float], limit: int, window: float) -> float:
    """The least time a limit of ``limit`` per sliding ``window`` allows for these requests
    (the i-th can come ``floor(i / limit)`` windows after the first) over the time they took: 1
    when every window was used to the limit, 0.5 when they took twice as long."""
    least = ((len(times) - 1) // limit) * window
    span = times[-1] - times[0]
    return least / span if span > 0 else 1.0


def account_shares(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per vendor account (and FUB context): served, refused, and its API-bound stretches.

    A stretch is API-bound when it needed more than one window (more than ``limit`` requests)
    and some window of it held ``limit - HELD_BACK`` of them (the pace held it at its budget:
    agentsync keeps at most 5 of a window in reserve); its :func:`budget_share` says how much of
    the budget it used."""
    out = []
    for api, rep in report.items():
        for key, served in rep["allowed"].items():
            if api == "fub":
                account, context = key.split(":")
                limit, window = fub_limit(context), float(rep["window"])
            else:
                account, context = key, "-"
                limit, window = int(rep["limit"]), float(rep["window"])
            bound = []
            for st in stretches(rep.get("times", {}).get(key, []), window):
                if len(st) > limit and peak_in_window(st, window) >= limit - HELD_BACK:
                    share = budget_share(st, limit, window)
                    bound.append({"n": len(st), "span": st[-1] - st[0], "share": share})
            out.append(
                {
                    "api": api,
                    "account": int(account),
                    "context": context,
                    "served": served,
                    "refused": rep["refused"].get(key, 0),
                    "span": float(rep["span"].get(key, 0.0)),
                    "limit": limit,
                    "window": window,
                    "bound": bound,
                }
            )
    return out


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------


def initial_load(user_ids: list[int], width: int) -> dict[str, Any]:
    """Every agent's onboarding steps (sandbox limits off), ``width`` agents at a time, then
    one dbt build and the gate, as the flows run them."""
    import importlib

    from agentsync import agents
    from bench.bench_pipeline import run_sources
    from flows.after_load import dbt_build, quality_gate

    for name in ("pandas", "pyarrow"):  # imported lazily deep in dlt: not from threads at once
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    started = time.perf_counter()
    with ThreadPoolExecutor(width) as pool:
        results = list(pool.map(lambda u: run_sources("onboarding", [u]), user_ids))
    rows = sum(r[0] for r in results)
    failures = [f for r in results for f in r[1]]
    extract = time.perf_counter() - started
    loaded = {s for u in user_ids for s in agents.connected_integrations(u)}
    build = dbt_build(loaded)
    gate = quality_gate(user_ids)
    if build.status == "failed":
        failures.append(f"dbt: {build.error}"[:300])
    return {
        "rows": rows,
        "failures": failures,
        "extract_s": extract,
        "seconds": time.perf_counter() - started,
        "gate": gate.status,
    }


def parse_level(spec: str) -> tuple[int, int]:
    """``"16"`` = one sync process at concurrency 16; ``"2x8"`` = two processes at 8 each
    (the agents dealt out between them)."""
    procs, _, width = spec.strip().lower().rpartition("x")
    return (int(procs) if procs else 1), int(width)


def run_level(
    spec: str, url: str, env: dict[str, str], data_dir: Path, sandbox_pid: int, fraction: float,
    user_ids: list[int],
) -> dict[str, Any]:  # fmt: skip
    """Advance a day, then ``agentsync sync --json`` at the level's concurrency (in as many
    processes as it says, the agents dealt out between them); what it cost."""
    from sqlalchemy import text

    from agentsync import db

    procs_n, width = parse_level(spec)
    advance = httpx.post(
        f"{url}/_sandbox/advance", json={"seconds": 86_400, "fraction": fraction}, timeout=1200
    )
    advance.raise_for_status()
    limits(url, True)
    with db.engine().connect() as conn:
        since = conn.execute(text("select clock_timestamp()")).scalar()
    sandbox = psutil.Process(sandbox_pid)
    pg = _postgres_processes(data_dir)
    cpu0 = {
        "sandbox": _cpu(sandbox),
        "postgres": _cpu(pg[0]) if pg else 0.0,
        "sync": _children_cpu(),
    }
    load0 = os.getloadavg()[0]
    penv = {**env, "AGENTSYNC_MAX_CONCURRENT_SYNCS": str(width)}
    cmd = [str(Path(sys.executable).with_name("agentsync")), "sync", "--json"]
    groups = [user_ids[k::procs_n] for k in range(procs_n)] if procs_n > 1 else [[]]
    started = time.perf_counter()
    # Each process writes to files, not pipes: with pipes read one process at a time, the second
    # sync blocked writing its log while it held the dbt lock the first one waited for.
    with Sampler(sandbox_pid, data_dir) as sampler, contextlib.ExitStack() as stack:
        procs, files = [], []
        for group in groups:
            args = [a for u in group for a in ("--user-id", str(u))]
            out_f = stack.enter_context(tempfile.TemporaryFile("w+"))
            err_f = stack.enter_context(tempfile.TemporaryFile("w+"))
            files.append((out_f, err_f))
            proc = subprocess.Popen([*cmd, *args], cwd=ROOT, env=penv, stdout=out_f, stderr=err_f)
            procs.append(proc)
            sampler.syncs.append(psutil.Process(proc.pid))
        for proc in procs:
            proc.wait()
        outs = []
        for out_f, err_f in files:
            out_f.seek(0)
            err_f.seek(0)
            outs.append((out_f.read(), err_f.read()))
    wall = time.perf_counter() - started
    load1 = os.getloadavg()[0]
    cpu = {
        "sandbox": _cpu(sandbox) - cpu0["sandbox"],
        "postgres": (_cpu(pg[0]) - cpu0["postgres"]) if pg else 0.0,
        "sync": _children_cpu() - cpu0["sync"],
    }
    results = []
    for proc, (out, err) in zip(procs, outs, strict=True):
        try:
            results.append(json.loads(out[out.index("{") :]))
        except ValueError:
            results.append({"failed": None, "agents": {}, "post": []})
            _progress(f"level {spec}: no JSON result (rc {proc.returncode}): {err[-2000:]}")
    report = httpx.get(f"{url}/_sandbox/limits", params={"times": 1}, timeout=60).json()
    with db.engine().connect() as conn:
        runs = conn.execute(
            text(
                """
                select user_id, min(started_at), max(ended_at), sum(coalesce(rows, 0)),
                       count(*) filter (where status = 'failed')
                  from ops.sync_runs where kind = 'daily' and started_at >= :since
                 group by user_id
                """
            ),
            {"since": since},
        ).all()
    first = min(r[1] for r in runs)
    last = max(r[2] for r in runs if r[2] is not None)
    per_agent = {int(r[0]): (r[2] - r[1]).total_seconds() for r in runs if r[2] is not None}
    windows = {  # each agent's extraction: (start, end), seconds after the level's first start
        int(r[0]): ((r[1] - first).total_seconds(), (r[2] - first).total_seconds())
        for r in runs
        if r[2] is not None
    }
    post: dict[str, float] = {}
    for res in results:
        for o in res.get("post", []):
            post[o["step"]] = post.get(o["step"], 0.0) + o.get("seconds", 0.0)
    failed = [
        f"{who} {o['step']}: {o.get('error')}"[:600]
        for res in results
        for who, outs in [*res.get("agents", {}).items(), ("all", res.get("post", []))]
        for o in outs
        if o.get("status") == "failed"
    ]
    fails = [r.get("failed") for r in results]
    return {
        "failures": failed,
        "level": spec,
        "concurrency": procs_n * width,
        "processes": procs_n,
        "rc": max(p.returncode for p in procs),
        "failed": None if None in fails else sum(fails),
        "wall": wall,
        "extract": (last - first).total_seconds(),
        "extract_cpu": sampler.cpu_between(first.timestamp(), last.timestamp()),
        "agent_seconds": per_agent,
        "agent_windows": windows,
        "rows": sum(int(r[3]) for r in runs),
        "failed_runs": sum(int(r[4]) for r in runs),
        "post": post,
        "cpu": cpu,
        "peak": dict(sampler.peak),
        "load": (load0, load1),
        "accounts": account_shares(report),
        "advance": advance.json().get("now"),
    }


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the sync processes and theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="agentsync-bench-fleet-"))
    data_dir = workdir / "data"
    for key in [k for k in os.environ if k.startswith("AGENTSYNC_")]:
        del os.environ[key]
    os.environ["AGENTSYNC_DATA_DIR"] = str(data_dir)
    # Each level moves the sandbox a day on: start it as many days back, so its records never
    # lie in the future (the gate's freshness checks fail on those).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    epoch = today - timedelta(days=len(args.levels) + 1)
    os.environ["AGENTSYNC_SANDBOX_EPOCH"] = epoch.isoformat()
    from bench.bench_pipeline import _start_sandbox

    _progress("sandbox start-up per profile")
    startup = sandbox_startup(args.seed)
    _progress("fleet sandbox")
    sandbox_proc, info = _start_sandbox("fleet", args.seed)
    url = info["url"]
    os.environ.update(info["env"])
    sandbox_rss = [psutil.Process(sandbox_proc.pid).memory_info().rss]
    from agentsync import agents, db

    try:
        db.ensure_ready()
        chosen = info["agents"][args.offset : args.offset + args.agents]
        for agent in chosen:
            agents.add_agent(agent["user_id"], agent["name"], agent["credentials"])
        user_ids = [a["user_id"] for a in chosen]
        sizes = _sizes(url, user_ids)
        _progress(f"initial load of {len(user_ids)} agents, limits off")
        limits(url, False)
        initial = initial_load(user_ids, args.initial_concurrency)
        _progress(f"initial load: {initial['rows']:,} rows in {initial['seconds']:.0f} s")
        env = {k: v for k, v in os.environ.items()}
        levels = []
        for level in args.levels:
            _progress(f"daily sync at concurrency {level}")
            levels.append(
                run_level(level, url, env, data_dir, sandbox_proc.pid, args.fraction, user_ids)
            )
            lv = levels[-1]
            _progress(
                f"concurrency {level}: wall {lv['wall']:.0f} s, extraction {lv['extract']:.0f} s,"
                f" failed {lv['failed']}, peak sync RSS {lv['peak']['sync'] / 2**20:.0f} MB"
            )
        sandbox_rss.append(max(lv["peak"]["sandbox"] for lv in levels))
    finally:
        _stop(sandbox_proc)
        db.stop_embedded()
    return {
        "startup": startup,
        "sandbox_rss": sandbox_rss,
        "agents": user_ids,
        "sizes": sizes,
        "initial": initial,
        "levels": levels,
    }


def _sizes(url: str, user_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each chosen agent's account sizes, from the sandbox's ground truth."""
    out: dict[int, dict[str, int]] = {}
    for uid in user_ids:  # one agent at a time: the others' records are not derived for this
        truth = httpx.get(f"{url}/_sandbox/truth", params={"user_id": uid}, timeout=600).json()
        fub = truth["fub"].get(str(uid), {})
        out[uid] = {
            "people": fub.get("people", {}).get("count", 0),
            "rezen": truth["rezen"].get(str(uid), {}).get("transactions", {}).get("count", 0),
            "skyslope": sum(
                truth["skyslope"].get(str(uid), {}).get(e, {}).get("count", 0)
                for e in ("sales", "listings")
            ),
            "qualia": truth["qualia"].get(str(uid), {}).get("orders", {}).get("count", 0),
        }
    return out


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------


def _commit() -> str:
    with contextlib.suppress(Exception):
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        return out + (" + uncommitted changes" if dirty else "")
    return "unknown"


def _bulk(lv: dict[str, Any], small: set[int]) -> float:
    """Extraction wall of the agents in ``small`` only: their first start to their last end."""
    spans = [w for u, w in lv["agent_windows"].items() if int(u) in small]
    return max(e for _, e in spans) - min(b for b, _ in spans) if spans else 0.0


def report(r: dict[str, Any], command: str) -> str:
    mb = 2**20
    levels = r["levels"]
    base = levels[0]
    sizes = {int(u): s for u, s in r["sizes"].items()}
    people = sorted(s["people"] for s in sizes.values())
    n_small = sum(1 for p in people if p <= 5_000)
    n_large = sum(1 for p in people if p >= 20_000)
    not_large = {u for u, s in sizes.items() if s["people"] < 20_000}
    lines = [
        f"## Fleet: daily sync at concurrency {', '.join(str(lv['level']) for lv in levels)} "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `{command}` · commit {_commit()} · {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()} · load average (1 min) before-after each level: "
        + ", ".join(f"{lv['load'][0]:.1f}-{lv['load'][1]:.1f}" for lv in levels)
        + " (the machine is shared with other engineers' work).",
        "",
        f"Agents: {len(r['agents'])} of the fleet's 250, user ids {min(r['agents'])}-"
        f"{max(r['agents'])} ({n_small} with at most 5,000 FUB "
        f"people, {len(people) - n_small - n_large} mid-sized, {n_large} large; FUB people "
        f"{people[0]:,}-{people[-1]:,}, median {people[len(people) // 2]:,}), each with its own "
        "credentials. Initial load (onboarding steps with the sandbox's limits off, "
        f"{r['initial']['rows']:,} rows): {r['initial']['seconds']:.0f} s. Each level: the "
        f"sandbox advanced one day ({r['fraction']:.0%} of records changed), its limits on "
        "(FUB 250 per 10 s global and 20 events; SkySlope 100/min; stand-ins reZEN 300/min, "
        "Qualia 120/min), then `agentsync sync --json` with `AGENTSYNC_MAX_CONCURRENT_SYNCS` = "
        "the level: extraction, one dbt build, the gate, health, alerts. A level `PxC` runs P "
        "such processes at once at C each, the agents dealt out between them (each runs its own "
        "dbt build and gate, one after the other under the dbt lock).",
        "",
        "| level (concurrency) | sync wall s (speed-up) | extraction s (speed-up; goal ≥ "
        f"{GOAL_SPEEDUP} x c) | slowest agent s | extraction of the {len(not_large)} not large "
        "s (speed-up) | sum of agents' extraction s | sync CPU in the extraction (cores) "
        "| dbt + gate s | CPU s sync / sandbox / PostgreSQL (whole level) | peak RSS MB sync "
        "trees / sandbox / PostgreSQL PSS | DB connections | failed steps |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base_bulk = _bulk(base, not_large)
    for lv in levels:
        cpu = lv["cpu"]
        cores = lv["extract_cpu"] / lv["extract"] if lv["extract"] else 0.0
        post = lv["post"].get("dbt.build", 0.0) + lv["post"].get("quality.gate", 0.0)
        speed = base["extract"] / lv["extract"] if lv["extract"] else 0.0
        goal = "✓" if speed >= GOAL_SPEEDUP * lv["concurrency"] else "✗"
        slow_uid, slow = max(lv["agent_seconds"].items(), key=lambda kv: kv[1])
        bulk = _bulk(lv, not_large)
        lines.append(
            f"| {lv['level']} ({lv['concurrency']}) | {lv['wall']:.0f} "
            f"({base['wall'] / lv['wall']:.2f}) "
            f"| {lv['extract']:.0f} ({speed:.2f} {goal}) | {slow:.0f} (agent {slow_uid}, "
            f"{sizes[int(slow_uid)]['people']:,} people) "
            f"| {bulk:.0f} ({base_bulk / bulk if bulk else 0:.2f}) "
            f"| {sum(lv['agent_seconds'].values()):.0f} | {lv['extract_cpu']:.0f} s ({cores:.2f}) "
            f"| {post:.0f} | {cpu['sync']:.0f} / {cpu['sandbox']:.0f} / {cpu['postgres']:.0f} "
            f"| {lv['peak']['sync'] / mb:,.0f} / {lv['peak']['sandbox'] / mb:,.0f} / "
            f"{lv['peak']['postgres'] / mb:,.0f} | {lv['peak']['connections']} "
            f"| {lv['failed']} |"
        )
    lines += [
        "",
        "Vendor budgets per level, from the sandbox's own counters. A stretch of an account's "
        "requests (ended by a whole window without one) is API-bound when it needed more than "
        f"one window and some window of it held the limit less {HELD_BACK} (the pace held it at "
        "its budget); its budget share is the least time the limit allows for its requests (the "
        "i-th can come floor(i / limit) windows after the first) over the time they took.",
        "",
        "| level | vendor (limit) | accounts | requests served | 429s | API-bound stretches "
        f"(accounts) | their budget share: min / median / over all their time (goal ≥ "
        f"{GOAL_SHARE}) | stretches ≥ {GOAL_SHARE} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        by_api: dict[str, list[dict[str, Any]]] = {}
        for a in lv["accounts"]:
            ctx = "" if a["context"] == "-" else f" {a['context']}"
            window = f"{a['window']:g} s"
            by_api.setdefault(f"{a['api']}{ctx} ({a['limit']}/{window})", []).append(a)
        for name in sorted(by_api):
            accts = by_api[name]
            stretches = [b for a in accts for b in a["bound"]]
            bound = sorted(b["share"] for b in stretches)
            n_bound = sum(1 for a in accts if a["bound"])
            shares, good = "-", "-"
            if bound:
                overall = sum(b["share"] * b["span"] for b in stretches) / sum(
                    b["span"] for b in stretches
                )
                shares = f"{bound[0]:.2f} / {bound[len(bound) // 2]:.2f} / {overall:.2f}"
                good = f"{sum(1 for x in bound if x >= GOAL_SHARE)} of {len(bound)}"
            lines.append(
                f"| {lv['level']} | {name} | {len(accts)} | {sum(a['served'] for a in accts):,} "
                f"| {sum(a['refused'] for a in accts)} | {len(bound)} ({n_bound}) | {shares} "
                f"| {good} |"
            )
    top = max((lv for lv in levels if lv["processes"] == 1), key=lambda lv: lv["concurrency"])
    lines += [
        "",
        f"Peak RSS at concurrency {top['concurrency']} (one process): the sync's process tree "
        f"{top['peak']['sync'] / mb:,.0f} MB (goal ≤ {GOAL_RSS_MB:,} MB); with the sandbox "
        f"({top['peak']['sandbox'] / mb:,.0f} MB) and PostgreSQL "
        f"({top['peak']['postgres'] / mb:,.0f} MB PSS): "
        f"{sum(top['peak'][k] for k in ('sync', 'sandbox', 'postgres')) / mb:,.0f} MB.",
        "",
        "Sandbox start-up (a fresh `agentsync sandbox serve` process until it serves; its RSS "
        "then): "
        + "; ".join(
            f"{s['scale']} ({s['agents']} agents) {s['seconds']:.1f} s, {s['rss'] / mb:.0f} MB"
            for s in r["startup"]
        )
        + f". The fleet sandbox: {r['sandbox_rss'][0] / mb:.0f} MB after start, at most "
        f"{r['sandbox_rss'][-1] / mb:.0f} MB while serving the levels.",
    ]
    fails = [f"initial load: {f}" for f in r["initial"]["failures"]]
    fails += [f"concurrency {lv['level']}: {f}" for lv in levels for f in lv.get("failures", [])]
    if fails:
        lines += ["", "Failed steps:", ""] + [f"- {f}" for f in fails[:20]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=48, help="the fleet's first N agents")
    parser.add_argument("--offset", type=int, default=0, help="skip the fleet's first agents")
    parser.add_argument(
        "--levels",
        default="1,4,16,32,2x8,2x16",
        help="concurrency levels in the order run; PxC = P sync processes at C each",
    )
    parser.add_argument("--fraction", type=float, default=0.01, help="share changed per day")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--initial-concurrency", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    args.levels = [x.strip() for x in str(args.levels).split(",") if x.strip()]
    for spec in args.levels:
        parse_level(spec)  # a bad level fails here, not after the initial load
    result = run(args)
    result["fraction"] = args.fraction
    command = "python -m bench.bench_fleet " + shlex.join(argv or sys.argv[1:])
    out = report(result, command.strip())
    print(out)
    raw = Path(tempfile.gettempdir()) / f"bench_fleet_{int(time.time())}.json"
    raw.write_text(json.dumps(result, default=str, indent=1))
    print(f"raw measurements: {raw}")
    if not args.no_write:
        with RESULTS.open("a") as fh:
            fh.write("\n" + out)
    return 0 if all(lv["rc"] == 0 for lv in result["levels"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
