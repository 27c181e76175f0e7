"""Kill soak: onboardings killed at random points, each recovered by the dispatcher alone (issue 15).

One command::

    .venv/bin/python -m bench.bench_kill_soak --kills 20          # seed 15, scale tiny
    .venv/bin/python -m bench.bench_kill_soak --kills 3 --no-record

Setup as in ``bench/bench_faults.py``: an embedded PostgreSQL of its own under a temporary
directory, and per run a fresh database, data dir, encryption key and sandbox (seed 42). The agent
is the sandbox's smallest demo agent (103: FUB, SkySlope, Qualia).

1. A **clean run** (``agentsync onboard run --user-id 103`` in a subprocess) is the baseline: its
   marts (every row, columns naming loads or clock times left out) and how long the job ran.
2. Each **trial** starts the same command in a subprocess with its own ``PREFECT_HOME`` and, a
   random time after the job is Started (uniform in [0, 95 %] of the clean run's duration, from
   ``--seed``), sends SIGKILL to its main pid only — as a dying worker: Prefect's temporary server
   and anything else it started are left behind. The running step at that moment is the kill
   point (for a source step also the dlt phase: a pending extracted package = normalize, a
   normalized one = load, neither = extract).
   Recovery is ``agentsync onboard run`` **without** ``--user-id`` (the dispatcher path,
   ``flows.dispatcher.dispatch_once``), a new process with the same ``PREFECT_HOME``.
3. Per trial: recovered (the job ended Complete and ``ops.sync_runs`` tells the truth: nothing left
   running, every failed run says why, every entity has a done run), rows lost and duplicated
   against the clean run's marts, seconds from the kill to the job being re-queued (the
   recovery command's start-up, ~Prefect's and agentsync's imports, included: it is started
   right after the kill), and orphans left once recovery finished (a Prefect temporary server of
   that ``PREFECT_HOME``, a PostgreSQL of the trial's data dir).

Results go to the "Kill soak" section of ``bench/results.md`` (``--no-record`` to only print).
A trial takes roughly two to three minutes at ``tiny`` scale on a busy 2-core machine (two
process start-ups with Prefect's temporary API, a partial and a full onboarding).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shlex
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_faults import _admin_url, _new_database
from bench.kill_trial import (
    diff_rows,
    job_state,
    kill_main,
    mart_rows,
    recover,
    start_onboarding,
    sync_runs,
    sync_runs_truthful,
    wait_no_orphans,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.md"
AGENT = 103
SECTION = "## Kill soak"


@dataclass
class Trial:
    n: int
    delay: float
    killed_at: str  # the step (and dlt phase) running when killed, or why it was not killed
    recovered: bool
    job: str
    lost: int
    duplicated: int
    seconds_to_requeue: float | None
    orphans: int
    problems: str


class Env:
    """A fresh database, data dir, key and sandbox; ``os.environ`` points at them while entered."""

    def __init__(self, admin: str, root: Path, scale: str) -> None:
        self.admin, self.root, self.scale = admin, root, scale

    def __enter__(self) -> Env:
        from cryptography.fernet import Fernet

        from agentsync import agents, jobs
        from sandbox.core import start_in_thread

        self.running = start_in_thread(seed=42, scale=self.scale)
        tag = uuid.uuid4().hex[:8]
        self.data_dir = self.root / f"run-{tag}"
        self.prefect_home = self.root / f"prefect-{tag}"
        self.vars = {
            "AGENTSYNC_DATABASE_URL": _new_database(self.admin),
            "AGENTSYNC_DATA_DIR": str(self.data_dir),
            "AGENTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            **self.running.sandbox.env(),
        }
        self.saved = {k: os.environ.get(k) for k in self.vars}
        os.environ.update(self.vars)
        spec = next(a for a in self.running.sandbox.demo_agents() if a["user_id"] == AGENT)
        agents.add_agent(AGENT, spec["name"], spec["credentials"])
        jobs.create_job(AGENT)
        self.child_env = {
            **os.environ,
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        return self

    def __exit__(self, *exc: object) -> None:
        from agentsync import db

        db.engine().dispose()
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.running.stop()


def _wait_started(proc, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job_state(AGENT)[0] in ("Started", "Complete", "Partial", "Error"):
            return time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError(f"the onboarding exited {proc.returncode} before it started")
        time.sleep(0.05)
    raise RuntimeError("the onboarding never started")


def _phase(data_dir: Path, step: str | None) -> str:
    """The kill point: the running step, and for a source step the dlt phase."""
    if step is None:
        return "between steps"
    source = step.split(".")[0]
    if source in ("dbt", "quality"):
        return step
    pipe = data_dir / "dlt" / f"{source}_user_{AGENT}"
    if any((pipe / "load" / "normalized").glob("*")):
        return f"{step} (load)"
    if any((pipe / "normalize" / "extracted").glob("*")) or any((pipe / "load" / "new").glob("*")):
        return f"{step} (normalize)"
    return f"{step} (extract)"


def clean_run(admin: str, root: Path, scale: str) -> tuple[dict, float]:
    from agentsync import jobs

    with Env(admin, root, scale) as env:
        proc = start_onboarding(AGENT, env.child_env, root / "clean.log")
        started = _wait_started(proc)
        proc.wait(1800)
        seconds = time.monotonic() - started
        job = jobs.get_job(AGENT)
        if job.status != "Complete":
            raise RuntimeError(f"the clean run ended {job.status}: {job.error} (see clean.log)")
        return mart_rows(AGENT), seconds


def trial(n: int, delay: float, admin: str, root: Path, scale: str, clean: dict) -> Trial:
    from agentsync import jobs

    log = root / f"trial-{n}.log"
    with Env(admin, root, scale) as env:
        proc = start_onboarding(AGENT, env.child_env, log)
        started = _wait_started(proc)
        while time.monotonic() < started + delay and proc.poll() is None:
            time.sleep(0.02)
        if proc.poll() is not None:
            job = jobs.get_job(AGENT)
            lost, dup = diff_rows(clean, mart_rows(AGENT))
            return Trial(
                n,
                delay,
                "not killed (finished first)",
                job.status == "Complete",
                job.status,
                lost,
                dup,
                None,
                0,
                "",
            )
        killed = kill_main(proc)
        point = _phase(env.data_dir, job_state(AGENT)[2])
        rec = recover(AGENT, env.child_env, killed, log)
        job = jobs.get_job(AGENT)
        problems = sync_runs_truthful(sync_runs(AGENT))
        left = wait_no_orphans(env.prefect_home, env.data_dir)
        lost, dup = diff_rows(clean, mart_rows(AGENT))
        ok = job.status == "Complete" and not problems
        if job.status != "Complete":
            problems.insert(0, f"job {job.status}: {(job.error or '')[:120]}")
        if left:
            problems.append("orphans: " + ", ".join(left))
        return Trial(
            n,
            delay,
            point,
            ok,
            job.status,
            lost,
            dup,
            rec.seconds_to_requeue,
            len(left),
            "; ".join(problems),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--first", type=int, default=1, help="start at this trial (continue a stopped soak)"
    )
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="agentsync-killsoak-"))
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    os.environ.setdefault("AGENTSYNC_DATA_DIR", str(root / "data"))
    admin = _admin_url(root)
    began = time.monotonic()
    print(f"work dir {root}; clean run of agent {AGENT}", flush=True)
    clean, run_seconds = clean_run(admin, root, args.scale)
    print(f"  clean run: {run_seconds:.0f}s, {sum(map(len, clean.values()))} mart rows", flush=True)
    rng = random.Random(args.seed)
    trials: list[Trial] = []
    for n in range(1, args.kills + 1):
        delay = rng.uniform(0, 0.95 * run_seconds)
        if n < args.first:  # drawn anyway: trial n kills at the same share of the run each time
            continue
        try:
            t = trial(n, delay, admin, root, args.scale, clean)
        except Exception as err:  # a harness failure is a result too, not a crash of the soak
            t = Trial(n, delay, "harness error", False, "?", 0, 0, None, 0, str(err)[:200])
        trials.append(t)
        req = "-" if t.seconds_to_requeue is None else f"{t.seconds_to_requeue:.1f}s"
        print(
            f"  {n:2d} +{delay:5.1f}s {t.killed_at:32s} recovered={t.recovered} job={t.job} "
            f"lost={t.lost} dup={t.duplicated} requeue={req} orphans={t.orphans} {t.problems}",
            flush=True,
        )
        if not args.no_record:  # after every trial: a soak stopped early still records its trials
            _record(_table(trials), trials, time.monotonic() - began, run_seconds, args)
    print(_table(trials))
    bad = [t for t in trials if not t.recovered or t.lost or t.duplicated or t.orphans]
    return 1 if bad else 0


def _table(trials: list[Trial]) -> str:
    lines = [
        "| # | killed after | killed at | recovered | job | rows lost | rows duplicated "
        "| kill → re-queued | orphans left | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in trials:
        req = "-" if t.seconds_to_requeue is None else f"{t.seconds_to_requeue:.1f} s"
        lines.append(
            f"| {t.n} | {t.delay:.1f} s | {t.killed_at} | {'yes' if t.recovered else '**no**'} "
            f"| {t.job} | {t.lost} | {t.duplicated} | {req} | {t.orphans} | {t.problems} |"
        )
    killed = [t for t in trials if not t.killed_at.startswith(("not killed", "harness"))]
    req = sorted(t.seconds_to_requeue for t in killed if t.seconds_to_requeue is not None)
    points: dict[str, int] = {}
    for t in killed:
        key = re.sub(r"^\w+\.\w+ \((\w+)\)$", r"source step (\1)", t.killed_at)
        points[key] = points.get(key, 0) + 1
    summary = [
        "| measure | value |",
        "| --- | --- |",
        f"| trials / killed | {len(trials)} / {len(killed)} |",
        f"| recovered by the dispatcher path | {sum(t.recovered for t in killed)} of {len(killed)} |",
        f"| rows lost / duplicated (all trials) | {sum(t.lost for t in trials)} / "
        f"{sum(t.duplicated for t in trials)} |",
        f"| orphans left after recovery | {sum(t.orphans for t in killed)} |",
        "| kill → re-queued (median / max) | "
        + (f"{req[len(req) // 2]:.1f} s / {req[-1]:.1f} s |" if req else "- |"),
        "| kill points | " + ", ".join(f"{k}: {v}" for k, v in sorted(points.items())) + " |",
    ]
    return "\n".join([*summary, "", *lines])


def _record(
    table: str, trials: list[Trial], wall: float, run_seconds: float, args: argparse.Namespace
) -> None:
    cmd = "python -m bench.bench_kill_soak " + shlex.join(
        a for a in sys.argv[1:] if a != "--no-record"
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    partial = (
        ""
        if len(trials) >= args.kills - args.first + 1
        else f" **Partial: {len(trials)} of {args.kills - args.first + 1} trials done when this "
        "was written.**"
    )
    block = (
        f"{SECTION}\n\n`{cmd.strip()}` ({when}; scale `{args.scale}`, sandbox seed 42, kill seed "
        f"{args.seed}; {platform.machine()}, {os.cpu_count()} CPUs shared with other work; "
        f"{wall / 60:.1f} min wall). Agent {AGENT} (FUB, SkySlope, Qualia); the clean run's job "
        f"took {run_seconds:.0f} s. Each trial: `agentsync onboard run --user-id {AGENT}` in a "
        "subprocess, SIGKILL to its main pid only at a random time after the job started "
        "(uniform in [0, 95 %] of the clean run), then `agentsync onboard run` without "
        "`--user-id` (the dispatcher path) in a new process with the same `PREFECT_HOME`. "
        "Recovered = the job ended Complete and `ops.sync_runs` tells the truth (nothing left "
        "running, every failed run has a reason, every entity a done run); rows are compared "
        "with the clean run's marts; kill → re-queued includes the recovery command's start-up "
        "(it is started right after the kill); orphans = a Prefect temporary server of that "
        "`PREFECT_HOME` or a PostgreSQL of the trial's data dir still running after recovery."
        f"{partial}\n\n" + table + "\n"
    )
    text = RESULTS.read_text()
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + block + ("" if end < 0 else text[end:])
    RESULTS.write_text(text)
    print(f"recorded in {RESULTS.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
