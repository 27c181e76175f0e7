"""Fault matrix: does any sandbox fault end an onboarding Complete with missing data? (issue 14)

One command::

    .venv/bin/python -m bench.bench_faults                       # every kind on every source
    .venv/bin/python -m bench.bench_faults --sources skyslope,qualia --kinds lose_page

For each source, one agent connected to that source only (the smallest demo agent that has it):

1. a **clean onboarding** (no fault) is the baseline: per mart, the agent's ids and, per column,
   how many rows have a value. While it runs, every paginated endpoint the source calls is
   recorded (the paths on which the replica offers ``lose_page``);
2. one **trial per fault**: a fresh database, data dir and sandbox, the fault armed through
   ``POST /_sandbox/faults``, the real onboarding flow (``flows.onboard.onboard_user``: dlt, dbt,
   the quality gate). ``lose_page`` is tried on every paginated endpoint of the source; every
   other kind on the source's main endpoint.

Each trial is classified against the baseline and the sandbox's ground truth:

- **loud**: the job did not end Complete (a step or the gate failed and says why), or every
  missing record is in ``ops.quarantine`` with its reason;
- **complete**: the job ended Complete and every mart holds the baseline's ids with at least the
  baseline's filled values in every column (the data arrived despite the fault);
- **silent**: the job ended Complete with ids missing or a column emptied — the failure the
  project exists to prevent. The goal is 0 silent.

Results go to ``bench/results.md`` (``--no-record`` to only print). At ``tiny`` scale a trial
takes about a minute on a 2-core machine (one onboarding: dlt, dbt build, gate).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.md"

# The agent per source: connected to that source only, so a trial onboards one source.
AGENT_FOR = {"fub": 103, "rezen": 102, "skyslope": 103, "qualia": 103}
# Where the non-page faults are armed: each source's main listing.
MAIN_ROUTE = {
    "fub": "/v1/people*",
    "rezen": "/arrakis/api/v1/transactions*",
    "skyslope": "/api/files/sales*",
    "qualia": "/graphql",
}
OTHER_KINDS = {
    "rate_limit": "3",
    "server_error": "2:503",
    "truncated": "1",
    "slow": "1:3",
    "expired_credentials": "1",
    "malformed": "1",
    "malformed_types": "1",
    "drift_added": "1",
    "drift_renamed": "1",
}


@dataclass
class Snapshot:
    """What one onboarding left: job status, failed steps, marts' ids and filled columns."""

    status: str
    failed: list[str]
    ids: dict[str, set[str]]
    filled: dict[str, dict[str, int]]
    quarantined: int
    seconds: float
    paged: set[tuple[str, str]] = field(default_factory=set)
    #: every quarantined record of the source (its id and JSON): what a missing id may be in
    quarantine_text: str = ""
    #: quarantined records without an id (a record whose id was missing or invalid)
    quarantined_without_id: int = 0
    #: per mart, each row as JSON text by id: which records a missing row refers to
    rows: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Trial:
    source: str
    fault: str
    verdict: str
    detail: str
    seconds: float


def _admin_url(root: Path) -> str:
    from agentsync import db
    from agentsync.settings import load_settings

    settings = load_settings(data_dir=root / "pg", database_name="postgres")
    return db.database_url(settings)


def _new_database(admin_url: str) -> str:
    from urllib.parse import urlsplit

    import psycopg2

    name = f"f_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        # what earlier trials' pools, dlt and GX left connected would exhaust max_connections
        # over a long matrix ("too many clients"): each trial is over when the next one starts
        cur.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname like 'f\\_%' and pid <> pg_backend_pid()"
        )
        cur.execute(f'create database "{name}"')
    conn.close()
    return urlsplit(admin_url)._replace(path=f"/{name}").geturl()


def _onboard(admin_url: str, root: Path, source: str, fault: str | None, scale: str) -> Snapshot:
    """One real onboarding of the source's agent in a fresh database, data dir and sandbox."""
    import httpx
    from cryptography.fernet import Fernet
    from sqlalchemy import text

    from agentsync import agents, db, jobs
    from agentsync.entities import all_entities
    from flows.onboard import onboard_user
    from sandbox.core import start_in_thread

    user_id = AGENT_FOR[source]
    running = start_in_thread(seed=42, scale=scale)
    paged: set[tuple[str, str]] = set()
    take = running.sandbox.faults.take

    def recording_take(api: str, path: str, kinds: Any) -> Any:
        if "lose_page" in kinds:
            paged.add((api, path))
        return take(api, path, kinds)

    running.sandbox.faults.take = recording_take  # type: ignore[method-assign]
    data_dir = root / f"trial-{uuid.uuid4().hex[:8]}"
    env = {
        "AGENTSYNC_DATABASE_URL": _new_database(admin_url),
        "AGENTSYNC_DATA_DIR": str(data_dir),
        "AGENTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        **running.sandbox.env(),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        spec = next(a for a in running.sandbox.demo_agents() if a["user_id"] == user_id)
        agents.add_agent(user_id, spec["name"], {source: spec["credentials"][source]})
        if fault:
            resp = httpx.post(f"{running.url}/_sandbox/faults", json={"spec": fault}, timeout=30)
            resp.raise_for_status()
        started = time.monotonic()
        try:
            onboard_user(user_id)
        except Exception as err:  # the job records it; the snapshot says what it left
            print(f"    onboarding raised {type(err).__name__}: {err}"[:300], flush=True)
        seconds = time.monotonic() - started
        job = jobs.get_job(user_id)
        failed = [f"{s.step}: {s.error}" for s in job.steps if s.status == "failed"]
        ids: dict[str, set[str]] = {}
        rows: dict[str, dict[str, str]] = {}
        filled: dict[str, dict[str, int]] = {}
        with db.begin() as conn:
            for entity in all_entities([source]):
                if not entity.mart:
                    continue
                schema, table = entity.mart.split(".")
                cols = [
                    r[0]
                    for r in conn.execute(
                        text(
                            "select column_name from information_schema.columns "
                            "where table_schema = :s and table_name = :t order by 1"
                        ),
                        {"s": schema, "t": table},
                    )
                ]
                if not cols:
                    continue
                got = conn.execute(
                    text(
                        f"select {entity.mart_id_column}::text from {entity.mart} where user_id = :u"
                    ),
                    {"u": user_id},
                )
                ids[entity.mart] = {r[0] for r in got}
                rows[entity.mart] = dict(
                    conn.execute(
                        text(
                            f"select {entity.mart_id_column}::text, row_to_json(m)::text "
                            f"from {entity.mart} as m where user_id = :u"
                        ),
                        {"u": user_id},
                    ).all()
                )
                counts = ", ".join(f'count("{c}")' for c in cols)
                row = conn.execute(
                    text(f"select {counts} from {entity.mart} where user_id = :u"), {"u": user_id}
                ).one()
                filled[entity.mart] = dict(zip(cols, row, strict=True))
            held = conn.execute(
                text("select record_id, record::text from ops.quarantine where source = :s"),
                {"s": source},
            ).all()
        quarantined = len(held)
        text_held = "\n".join(f"{r[0]} {r[1]}" for r in held)
        without_id = sum(1 for r in held if r[0] is None)
        return Snapshot(
            job.status,
            failed,
            ids,
            filled,
            quarantined,
            seconds,
            paged,
            text_held,
            without_id,
            rows,
        )
    finally:
        db.dispose_engines()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        running.stop()


def _token(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text) is not None


def _unexplained(base: Snapshot, got: Snapshot, missing: dict[str, set[str]]) -> list[str]:
    """Missing ids that no quarantined record accounts for.

    A missing id is accounted for when a quarantined record holds it; when the quarantine holds
    records without an id (the id itself was malformed), that many otherwise unexplained ids of
    one mart; and a missing row that refers to an accounted-for id (a reZEN transaction's
    participants, a FUB person's text messages: they were never fetched for a parent that went
    to quarantine) is accounted for as that record's dependant.
    """
    explained: set[str] = set()
    budget = got.quarantined_without_id
    for mart, ids in missing.items():
        left = sorted(i for i in ids if not _token(i, got.quarantine_text))
        explained |= ids - set(left)
        if (
            left
            and len(left) <= budget
            and not any(
                _token(e, base.rows.get(mart, {}).get(i, "")) for i in left for e in explained
            )
        ):
            budget -= len(left)
            explained |= set(left)
    changed = True
    while changed:  # dependants of accounted-for records, transitively
        changed = False
        for mart, ids in missing.items():
            for i in ids - explained:
                row = base.rows.get(mart, {}).get(i, "")
                if any(_token(e, row) for e in explained):
                    explained.add(i)
                    changed = True
    return sorted(i for ids in missing.values() for i in ids if i not in explained)


def classify(base: Snapshot, got: Snapshot) -> tuple[str, str]:
    """``(verdict, detail)`` of one trial against the clean baseline."""
    missing = {m: base.ids[m] - got.ids.get(m, set()) for m in base.ids}
    missing = {m: s for m, s in missing.items() if s}
    # A column is emptied when it lost more values than its mart lost rows: a missing row takes
    # at most one value of each column with it (and is judged as a missing id above).
    emptied = {
        f"{m}.{c}": (n, got.filled.get(m, {}).get(c, 0))
        for m, cols in base.filled.items()
        for c, n in cols.items()
        if got.filled.get(m, {}).get(c, 0) < n - len(missing.get(m, ()))
    }
    lost = sum(len(s) for s in missing.values())
    unexplained = _unexplained(base, got, missing)
    if got.status != "Complete":
        why = "; ".join(got.failed)[:160] or got.status
        return "loud", f"job {got.status}: {why}"
    if not missing and not emptied:
        return "complete", "every id and value arrived"
    if missing and not emptied and not unexplained:
        return "loud", f"{lost} row(s) missing, all quarantined with a reason or dependants of one"
    parts = [f"{m}: {len(s)} of {len(base.ids[m])} ids missing" for m, s in missing.items()]
    parts += [f"{c}: {n_got} of {n} filled" for c, (n, n_got) in list(emptied.items())[:3]]
    return "silent", "job Complete but " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", default="fub,rezen,skyslope,qualia")
    parser.add_argument("--kinds", default="lose_page," + ",".join(OTHER_KINDS))
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument(
        "--match", default="", help="only faults matching this regex (e.g. to finish a stopped run)"
    )
    args = parser.parse_args(argv)
    sources = [s for s in args.sources.split(",") if s]
    kinds = [k for k in args.kinds.split(",") if k]

    root = Path(tempfile.mkdtemp(prefix="agentsync-faults-"))
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    os.environ.setdefault("AGENTSYNC_DATA_DIR", str(root / "data"))
    from flows.prefect_env import configure_prefect_env

    configure_prefect_env(quiet=True)
    admin = _admin_url(root)
    began = time.monotonic()
    trials: list[Trial] = []
    for source in sources:
        print(f"{source}: clean baseline (agent {AGENT_FOR[source]})", flush=True)
        base = _onboard(admin, root, source, None, args.scale)
        if base.status != "Complete":
            print(f"  baseline ended {base.status}: {base.failed}", flush=True)
            trials.append(Trial(source, "(none)", "error", f"baseline {base.status}", base.seconds))
            continue
        faults: list[str] = []
        if "lose_page" in kinds:
            faults += [f"{api}:{path}:lose_page:1" for api, path in sorted(base.paged)]
        faults += [
            f"{source}:{MAIN_ROUTE[source]}:{k}:{OTHER_KINDS[k]}" for k in kinds if k in OTHER_KINDS
        ]
        faults = [f for f in faults if re.search(args.match, f)]
        for fault in faults:
            got = _onboard(admin, root, source, fault, args.scale)
            verdict, detail = classify(base, got)
            trials.append(Trial(source, fault, verdict, detail, got.seconds))
            print(f"  {verdict:8s} {fault}  {detail}"[:240], flush=True)

    wall = time.monotonic() - began
    table = _table(trials)
    print(table)
    if not args.no_record:
        _record(table, trials, wall, args)
    return 1 if any(t.verdict in ("silent", "error") for t in trials) else 0


def _table(trials: list[Trial]) -> str:
    lines = ["| source | fault | verdict | what happened |", "| --- | --- | --- | --- |"]
    for t in trials:
        lines.append(f"| {t.source} | `{t.fault}` | **{t.verdict}** | {t.detail} |")
    summary = [
        "",
        "| source | tried | loud | complete | silent |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source in dict.fromkeys(t.source for t in trials):
        mine = [t for t in trials if t.source == source]
        n = {v: sum(t.verdict == v for t in mine) for v in ("loud", "complete", "silent")}
        summary.append(
            f"| {source} | {len(mine)} | {n['loud']} | {n['complete']} | {n['silent']} |"
        )
    return "\n".join([*summary[1:], "", *lines])


def _record(table: str, trials: list[Trial], wall: float, args: argparse.Namespace) -> None:
    cmd = "python -m bench.bench_faults " + shlex.join(
        a for a in sys.argv[1:] if a != "--no-record"
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"\n## Fault matrix\n\n`{cmd.strip()}` ({when}; scale `{args.scale}`, seed 42; "
        f"{platform.machine()}, {os.cpu_count()} CPUs; {wall / 60:.1f} min wall, "
        f"{len(trials)} trials). Each trial is a real onboarding (dlt, dbt, the gate) of one "
        "source's agent with one fault armed; verdicts as in the script's docstring "
        "(loud = the job says what failed; complete = the data arrived anyway; silent = Complete "
        "with data missing).\n\n" + table + "\n"
    )
    with RESULTS.open("a") as fh:
        fh.write(block)
    print(f"recorded in {RESULTS.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
