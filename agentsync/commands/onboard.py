"""``agentsync onboard``: create onboarding jobs, run them, show their steps.

- ``create --user-id N`` is idempotent (Complete → returned as is; Partial/Error → re-queued).
- ``run`` runs every New job (through the dispatcher), or ``--user-id N`` now (creating the job
  if needed). Runs go through the ``onboard-user`` Prefect flow (the temporary local API unless
  ``PREFECT_API_URL`` is set). Exit code 1 when a job ends Partial or Error.
- ``status`` shows each job's steps with state, rows and timing (``--json`` for machines).
"""

from __future__ import annotations

import typer

from agentsync import agents, db, jobs
from agentsync.commands.live import command_display
from agentsync.commands.output import emit_json, table
from agentsync.locks import agent_lock


def _fmt_seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def show_job(job: jobs.Job) -> None:
    """Print one job and its steps as a table."""
    rows = [
        [
            s.ordinal + 1,
            s.step,
            s.status,
            s.rows,
            _fmt_seconds(s.seconds),
            s.started_at.strftime("%H:%M:%S") if s.started_at else "",
            s.error or "",
        ]
        for s in job.steps
    ]
    title = (
        f"agent {job.user_id} — job {job.job_id}: {job.status} "
        f"(attempts {job.attempts}{', ' + job.error if job.error else ''})"
    )
    table(title, ["#", "step", "state", "rows", "took", "started", "error / reason"], rows)


def onboard_exit_code(results: list[dict]) -> int:
    """0 every job ended well; 6 some jobs are Partial and every failed step of them failed
    because a vendor API refused or failed (as ``sync``); else 1 when a job is Partial or Error."""
    unfinished = [r for r in results if r["status"] in ("Partial", "Error")]
    if not unfinished:
        return 0
    loads = [f for r in unfinished for f in r.get("failed_loads", [])]
    vendor_only = all(r["status"] == "Partial" for r in unfinished) and all(
        f["vendor_error"] for f in loads
    )
    if loads and vendor_only:  # whatever the gate then said about the missing data
        return 6
    return 1


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Onboarding jobs: create, run, status.", no_args_is_help=True)

    @grp.command("create")
    def create(
        user_id: int = typer.Option(..., "--user-id", help="The agent's platform user id."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Create the agent's onboarding job (idempotent; a failed job is re-queued as New)."""
        job = jobs.create_job(user_id)
        data = {
            "job_id": job.job_id,
            "user_id": job.user_id,
            "status": job.status,
            "created_new": job.created_new,
            "message": job.message,
        }
        if as_json:
            emit_json(data)
        else:
            typer.echo(f"job {job.job_id} for agent {user_id}: {job.status} — {job.message}")

    @grp.command("run")
    def run(
        user_id: int | None = typer.Option(
            None, "--user-id", help="Run this agent's onboarding now (default: all New jobs)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Run New onboarding jobs now (or one agent's)."""
        db.ensure_ready()
        from flows.dispatcher import dispatch_once
        from flows.onboard import onboard_user

        if user_id is not None:
            jobs.create_job(user_id)
            agents.check_key_reads_credentials([user_id])
            with agent_lock(user_id):  # another run has it: one line (exit 5) before Prefect
                pass
            with command_display(not as_json):
                results = [onboard_user(user_id)]
        else:
            agents.check_key_reads_credentials(jobs.new_job_user_ids(10_000))
            with command_display(not as_json):
                results = dispatch_once(limit=10_000)
        if as_json:
            emit_json(results)
        elif not results:
            typer.echo("no New onboarding jobs")
        for r in results:
            if not as_json:
                try:
                    show_job(jobs.get_job(r["user_id"]))
                except Exception:
                    typer.echo(f"agent {r['user_id']}: {r['status']} {r.get('message', '')}")
        code = onboard_exit_code(results)
        if code:
            unfinished = ", ".join(
                f"agent {r['user_id']} {r['status']}"
                for r in results
                if r["status"] in ("Partial", "Error")
            )
            why = " (every failed load: the vendor refused or failed)" if code == 6 else ""
            typer.echo(f"agentsync: error: onboarding: {unfinished}{why}", err=True)
            raise typer.Exit(code)

    @grp.command("status")
    def status(
        user_id: int | None = typer.Option(None, "--user-id", help="Only this agent."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show onboarding jobs with each step's state, rows and timing."""
        found = [jobs.get_job(user_id)] if user_id is not None else jobs.list_jobs()
        if as_json:
            emit_json([j.as_dict() for j in found])
            return
        if not found:
            typer.echo("no onboarding jobs")
        for job in found:
            show_job(job)

    app.add_typer(grp, name="onboard")
