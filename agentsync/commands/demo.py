"""``agentsync demo``: the main job on the embedded defaults, end to end.

1. the embedded PostgreSQL (``ops`` migrated) and the sandbox vendor APIs on 127.0.0.1;
2. the sandbox's demo agents with their (sandbox-only) credentials — re-running updates them;
3. an onboarding job per agent, run through the ``onboard-user`` Prefect flow (Prefect's
   temporary local API, its home under the data dir), the agents together (a slot each, unless
   ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS`` is set) — a job already Complete is reused;
4. the sandbox clock moves one day (``POST /_sandbox/advance``), then the ``daily-sync`` flow:
   incremental loads, one dbt build, the quality gate, health and alerts;
5. a per-agent, per-source table (rows, status, time) from ``ops.sync_runs`` and where to open
   the dbt docs (``dbt docs generate``) and the GX Data Docs.

Exit code 0 when every job ended Complete and the daily sync had no failed step, else 1.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import text

from agentsync import agents, db, jobs
from agentsync.commands.live import step_display
from agentsync.commands.output import make_console
from agentsync.commands.sandbox_cmd import export_sandbox_epoch
from agentsync.errors import ConflictError
from agentsync.migrate import current_revision
from agentsync.settings import get_settings

console = make_console()


def _register_agents(sandbox: Any) -> list[int]:
    """Add the sandbox's demo agents (or refresh their credentials on a re-run)."""
    ids = []
    for spec in sandbox.demo_agents():
        try:
            agents.add_agent(spec["user_id"], spec["name"], spec["credentials"])
        except ConflictError:
            for integration, cred in spec["credentials"].items():
                agents.set_credential(spec["user_id"], integration, cred)
        ids.append(spec["user_id"])
    return ids


def _advance(url: str, seconds: int = 86_400, fraction: float = 0.02) -> dict[str, Any]:
    import httpx

    resp = httpx.post(
        f"{url}/_sandbox/advance", json={"seconds": seconds, "fraction": fraction}, timeout=300
    )
    resp.raise_for_status()
    return resp.json()


SLOTS_VAR = "AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS"


@contextmanager
def _onboarding_slots(agents: int) -> Iterator[None]:
    """One onboarding slot per demo agent while the block runs, unless the user set
    ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS`` (environment or ``.env``); its default of 2 is for a
    machine that also runs the daily syncs."""
    if "max_concurrent_onboardings" in get_settings().model_fields_set or agents < 1:
        yield
        return
    os.environ[SLOTS_VAR] = str(agents)
    try:
        yield
    finally:
        os.environ.pop(SLOTS_VAR, None)


def run_summary(since: Any, user_ids: list[int]) -> list[dict[str, Any]]:
    """Per agent, source and run kind: rows, entities, failures and time, from ``ops.sync_runs``."""
    with db.begin() as conn:
        rows = conn.execute(
            text(
                """
                select user_id, source, kind,
                       count(*) filter (where entity <> '*') as entities,
                       coalesce(sum(rows), 0) as rows,
                       count(*) filter (where status = 'failed') as failed,
                       count(*) filter (where status = 'skipped') as skipped,
                       extract(epoch from max(ended_at) - min(started_at)) as seconds
                  from ops.sync_runs
                 where started_at >= :since and user_id = any(:ids)
                 group by user_id, source, kind
                 order by user_id, source, kind desc
                """
            ),
            {"since": since, "ids": user_ids},
        ).all()
    return [r._asdict() for r in rows]


def run_demo(scale: str = "tiny", docs: bool = True) -> int:
    """The demo itself; returns the exit code."""
    from flows.prefect_env import configure_prefect_env

    configure_prefect_env(quiet=True)
    logging.getLogger("dlt").setLevel(logging.ERROR)  # schema hints per load; not for the demo
    logging.getLogger("agentsync.quality.gate").setLevel(logging.ERROR)  # summarised below
    started = time.monotonic()
    settings = get_settings()
    url = db.ensure_ready(settings)
    console.print(f"[bold]database[/] {db.redact_url(url)} (ops schema {current_revision()})")

    export_sandbox_epoch()
    from sandbox.core import start_in_thread

    running = start_in_thread(seed=42, scale=scale)
    try:
        os.environ.update(running.sandbox.env())
        console.print(f"[bold]sandbox[/] vendor APIs on {running.url} (scale {scale})")
        user_ids = _register_agents(running.sandbox)
        console.print(f"[bold]agents[/] {', '.join(map(str, user_ids))}")
        with db.begin() as conn:
            since = conn.execute(text("select now()")).scalar_one()

        from flows.daily_sync import daily_sync
        from flows.onboard import onboard_user
        from flows.prefect_env import start_api

        statuses: dict[int, str] = {}
        with step_display(console) as live:
            say = live.console.print if live is not None else console.print
            todo = []
            for user_id in user_ids:
                job = jobs.create_job(user_id)
                if job.status == "Complete":
                    say(f"  agent {user_id}: onboarding already Complete (reused)")
                    statuses[user_id] = "Complete (reused)"
                else:
                    todo.append(user_id)
            # The onboardings run together, each in one of the onboarding slots (their dbt
            # builds take turns): as many slots as demo agents unless the setting says otherwise.
            start_api()  # the temporary API, once, before the threads need it
            with (
                _onboarding_slots(len(todo)),
                ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool,
            ):
                done = pool.map(lambda u: (u, onboard_user(u)["status"]), todo)
                statuses.update(dict(done))
            statuses = {u: statuses[u] for u in user_ids}
            moved = _advance(running.url)
            say(f"  sandbox clock advanced to {moved.get('now')}")
            sync = daily_sync()

        _print_results(since, user_ids, statuses, sync)
        if docs:
            from agentsync.commands.sync import generate_docs

            console.print(f"[bold]dbt docs[/] {generate_docs()}  (serve: agentsync docs --serve)")
        _print_data_docs()
        ok = all(s.startswith("Complete") for s in statuses.values()) and not sync["failed"]
        console.print(
            f"[bold]{'done' if ok else 'finished with failures'}[/] in "
            f"{time.monotonic() - started:.0f}s"
        )
        return 0 if ok else 1
    finally:
        running.stop()


def _print_results(
    since: Any, user_ids: list[int], statuses: dict[int, str], sync: dict[str, Any]
) -> None:
    table = Table(title="agentsync demo — per agent and source")
    for col in ("agent", "source", "run", "entities", "rows", "status", "took"):
        table.add_column(col, justify="right" if col in ("entities", "rows", "took") else "left")
    for r in run_summary(since, user_ids):
        status = (
            "failed" if r["failed"] else "skipped" if r["skipped"] and not r["entities"] else "ok"
        )
        table.add_row(
            str(r["user_id"]),
            r["source"],
            r["kind"],
            str(r["entities"]),
            str(r["rows"]),
            status,
            f"{float(r['seconds'] or 0):.1f}s",
        )
    console.print(table)
    jobs_line = ", ".join(f"{u}: {s}" for u, s in statuses.items())
    console.print(f"[bold]onboarding jobs[/] {jobs_line}")
    counts: dict[str, int] = defaultdict(int)
    for outs in sync["agents"].values():
        for o in outs:
            counts[o["status"]] += 1
    console.print(
        "[bold]daily sync[/] steps " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    )
    for o in sync["post"]:
        extra = o.get("error") or o.get("detail") or ""
        counted = f"{o['rows']:,} {o.get('unit') or 'rows'}, " if o.get("rows") is not None else ""
        console.print(f"  {o['step']}: {o['status']} ({counted}{o['seconds']:.1f}s) {extra}")
    _print_marts_and_gate(user_ids, sync.get("gate"))


# The marts an agent's summary counts: (schema.table, what a row is).
MAIN_MARTS = [
    ("marts.people", "FUB people"),
    ("marts.deals", "FUB deals"),
    ("marts.rezen_transactions", "reZEN transactions"),
    ("marts.skyslope_sales", "SkySlope sales"),
    ("marts.title_orders", "Qualia title orders"),
    ("marts.transactions", "unified transactions"),
]


def mart_counts(user_ids: list[int]) -> dict[int, dict[str, int | None]]:
    """Per agent, the rows each main mart holds for it (None: the mart is not built)."""
    out: dict[int, dict[str, int | None]] = {u: {} for u in user_ids}
    with db.begin() as conn:
        for relation, label in MAIN_MARTS:
            exists = conn.execute(text("select to_regclass(:r)"), {"r": relation}).scalar()
            got: dict[int, int] = {}
            if exists:
                got = dict(
                    conn.execute(
                        text(f"select user_id, count(*) from {relation} group by user_id")
                    ).all()
                )
            for u in user_ids:
                out[u][label] = got.get(u, 0) if exists else None
    return out


def _print_marts_and_gate(user_ids: list[int], gate: dict[str, Any] | None) -> None:
    """Per agent: rows in the main marts, and how many failing gate checks name the agent."""
    counts = mart_counts(user_ids)
    table = Table(title="agentsync demo — rows per agent in the main marts")
    table.add_column("agent")
    for _, label in MAIN_MARTS:
        table.add_column(label, justify="right")
    table.add_column("failing gate checks", justify="right")
    checks = (gate or {}).get("checks") or []
    for u in user_ids:
        failing = sum(
            1
            for c in checks
            if c["verdict"] in ("fail", "error") and any(a["user_id"] == u for a in c["agents"])
        )
        row = [
            "-" if counts[u][label] is None else f"{counts[u][label]:,}" for _, label in MAIN_MARTS
        ]
        table.add_row(str(u), *row, str(failing))
    console.print(table)
    if gate is None:
        console.print("[bold]quality gate[/] did not run")
        return
    n = {
        v: sum(c["verdict"] == v for c in checks) for v in ("pass", "fail", "warn", "error", "skip")
    }
    verdict = "passed" if gate["success"] else "FAILED"
    console.print(
        f"[bold]quality gate[/] {verdict}: {n['pass']} checks passed, {n['fail']} failed, "
        f"{n['warn']} warnings, {n['error']} could not run, {n['skip']} dbt tests skipped "
        "(models not built)"
    )
    for line in gate.get("failures") or []:
        console.print(f"  FAIL {line}")


def _print_data_docs() -> None:
    from agentsync.quality.gx import data_docs_index

    index = data_docs_index()
    where = str(index) if index.exists() else f"{index} (not generated)"
    console.print(f"[bold]Data Docs[/] {where}")


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        scale: str = typer.Option("tiny", "--scale", help="Sandbox scale (tiny, small, ...)."),
        docs: bool = typer.Option(True, "--docs/--no-docs", help="Generate the dbt docs site."),
    ) -> None:
        """Run the end-to-end demo on the embedded defaults (database, sandbox, demo agents)."""
        code = run_demo(scale=scale, docs=docs)
        if code:
            raise typer.Exit(code)
