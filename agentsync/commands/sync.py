"""``agentsync sync`` (the daily sync now), ``agentsync deploy`` and ``agentsync docs``."""

from __future__ import annotations

import functools
import http.server
import signal
import threading

import typer

from agentsync import agents, db
from agentsync.commands.live import command_display
from agentsync.commands.output import emit_json, table
from agentsync.transform import target_dir


def generate_docs() -> str:
    """``dbt docs generate`` (lineage included) into the dbt target dir; returns index.html."""
    from agentsync.transform import run_dbt

    db.ensure_ready()
    run_dbt(["docs", "generate"])
    return str(target_dir() / "index.html")


def serve_dir(directory: str, port: int) -> http.server.ThreadingHTTPServer:
    """Serve ``directory`` on 127.0.0.1:``port`` in a daemon thread."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, name="agentsync-docs", daemon=True).start()
    return server


def sync_exit_code(result: dict) -> int:
    """The exit code of a sync: 0 nothing failed; 6 some loads failed and every failed load
    failed because a vendor API refused or failed (a refused key, a vendor error that outlasted
    its retries), whatever the gate then said about the missing data; else 1 (the work failed)."""
    loads = [o for outs in result["agents"].values() for o in outs if o["status"] == "failed"]
    if loads and all(o.get("vendor_error") for o in loads):
        return 6
    return 1 if result["failed"] else 0


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync(
        user_id: list[int] = typer.Option(None, "--user-id", help="Only these agents."),
        source: list[str] = typer.Option(None, "--source", help="Only these sources."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Run the daily sync now: incremental loads, dbt build, quality gate, health, alerts."""
        db.ensure_ready()
        from flows.daily_sync import chosen_agents, daily_sync

        # a bad request or a wrong key fails in one line before Prefect starts
        chosen = chosen_agents(user_id or None, source or None)
        agents.check_key_reads_credentials([a.user_id for a in chosen])
        with command_display(not as_json):
            result = daily_sync(user_ids=user_id or None, sources=source or None)
        if as_json:
            emit_json(result)
        else:
            rows = [
                [u, o["step"], o["status"], o["rows"], f"{o['seconds']:.1f}s", o["error"] or ""]
                for u, outs in result["agents"].items()
                for o in outs
            ] + [
                ["", o["step"], o["status"], o["rows"], f"{o['seconds']:.1f}s", o["error"] or ""]
                for o in result["post"]
            ]
            table("daily sync", ["agent", "step", "state", "rows", "took", "error / reason"], rows)
        code = sync_exit_code(result)
        if code:
            why = " (every failed load: the vendor refused or failed)" if code == 6 else ""
            typer.echo(
                f"agentsync: error: daily sync: {result['failed']} failed step(s){why}", err=True
            )
            raise typer.Exit(code)

    @app.command("deploy")
    def deploy(
        work_pool: str = typer.Option("agentsync", "--work-pool", help="Work pool name."),
        source: str | None = typer.Option(
            None, "--source", help="Where workers load the code from (dir or git URL)."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be deployed."),
    ) -> None:
        """Register the deployments (daily sync, agent sync, dispatcher, onboarding) with
        PREFECT_API_URL."""
        from flows.deployments import deploy_all, plans

        if dry_run:
            table(
                "deployments",
                ["deployment", "schedule", "entrypoint"],
                [[p.full_name, p.schedule, p.entrypoint] for p in plans()],
            )
            return
        names = deploy_all(work_pool=work_pool, source=source)
        for name in names:
            typer.echo(f"deployed {name} (work pool {work_pool})")
        typer.echo(f"start a worker on each machine: prefect worker start --pool {work_pool}")

    @app.command("docs")
    def docs(
        serve: bool = typer.Option(False, "--serve", help="Serve the site on 127.0.0.1."),
        port: int = typer.Option(8580, "--port", help="Port for --serve."),
    ) -> None:
        """Generate the dbt docs site (models, columns, lineage); optionally serve it."""
        index = generate_docs()
        typer.echo(f"dbt docs: {index}")
        if serve:
            # Our own handlers, installed before the server answers: libraries loaded by the
            # docs build (dlt among them) may defer SIGINT/SIGTERM, and a signal arriving
            # between start-up and a try block would end the process with a traceback.
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            server = serve_dir(str(target_dir()), port)
            typer.echo(f"serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
            while not stop.wait(0.5):
                pass
            server.shutdown()
