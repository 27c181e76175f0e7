"""``agentsync quality-build | quality-gate | health | alert | reconcile``: data quality.

- ``quality-build``: (re)write the GX context in ``expectations/`` from the entity registry (the
  deliberate build step; never during flows).
- ``quality-gate``: GX checkpoint + ``dbt test``; exit 1 naming each failing check (``FAIL``);
  warnings (``WARN``: an old newest record, a mapped raw field partly missing), dbt tests over
  models never built (``SKIP``, with the reason) and new raw columns no model reads (``INFO``)
  are listed but do not fail it. The step that gates a deployment.
- ``health``: backlog, sync age, errors, stuck jobs; exit 0 ok / 1 warning / 2 critical; new raw
  columns no model reads are listed (information).
- ``alert``: send the alert messages owed (one when a problem appears, one when it clears).
- ``reconcile``: reported ↔ raw ↔ final per agent and entity; exit 1 when a gap exceeds the
  tolerance (optionally against a legacy database).
- ``rebuild``: rebuild marts from raw (``dbt build --full-refresh``), no API called.
"""

from __future__ import annotations

from pathlib import Path

import typer

from agentsync.commands.output import emit_json, emit_json_text, table


def register(app: typer.Typer) -> None:
    """Add the quality commands to the agentsync app."""

    @app.command("quality-build")
    def quality_build() -> None:
        """Build the GX context (suites, checkpoint, Data Docs config) from the entity registry."""
        from agentsync.quality.gx import build_context

        gx_dir = build_context()
        typer.echo(f"GX context written to {gx_dir}")

    @app.command("quality-gate")
    def quality_gate(
        user_id: list[int] = typer.Option(
            None, "--user-id", help="Check only these agents (repeatable); default all."
        ),
        skip_dbt: bool = typer.Option(False, "--skip-dbt", help="Skip `dbt test`."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Run the GX checkpoint and dbt tests; exit 1 naming each failing check."""
        from agentsync.quality.gate import run_quality_gate

        _require_agents(user_id)
        result = run_quality_gate(user_id or None, dbt_args=None if skip_dbt else ("test",))
        if as_json:
            emit_json(result.as_dict())
        else:
            for c in result.new_columns:
                typer.echo(f"INFO new raw column {c.line}")
            for t in result.skipped:
                typer.echo(f"SKIP {t.line}")
            for w in result.warnings:
                typer.echo(f"WARN {w.line}")
            for line in result.failures:
                typer.echo(f"FAIL {line}")
            verdict = "passed" if result.success else "FAILED"
            extra = [
                f"{n} {what}"
                for n, what in (
                    (len(result.warnings), "warnings"),
                    (len(result.skipped), "skipped"),
                    (len(result.new_columns), "new raw columns not read by any model"),
                )
                if n
            ]
            typer.echo(f"quality gate: {verdict}" + (f" ({', '.join(extra)})" if extra else ""))
            if result.data_docs_path:
                typer.echo(f"Data Docs: {result.data_docs_path}")
        raise typer.Exit(0 if result.success else 1)

    @app.command("health")
    def health(
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        show_all: bool = typer.Option(False, "--all", help="List ok items too."),
    ) -> None:
        """Backlog, sync age, errors (24 h), stuck jobs; exit 0 ok, 1 warning, 2 critical."""
        from agentsync.quality.health import LEVEL_NAMES, NEW_COLUMN_CHECK, check_health

        report = check_health()
        if as_json:
            emit_json(report.as_dict())
        else:
            shown = report.items if show_all else report.problems
            table(
                f"health: {LEVEL_NAMES[report.level]}",
                ["level", "check", "what", "value", "message"],
                [[i.level_name, i.check, i.key, i.value, i.message] for i in shown],
            )
            if not show_all:  # information, never a problem: listed anyway
                for i in report.items:
                    if i.check == NEW_COLUMN_CHECK:
                        typer.echo(f"info: new raw column {i.message}")
        raise typer.Exit(report.level)

    @app.command("alert")
    def alert(
        dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent."),
        as_json: bool = typer.Option(False, "--json", help="Print the messages as JSON."),
    ) -> None:
        """Send alert messages for new, escalated and cleared problems (to the webhook)."""
        from agentsync.quality.alerts import evaluate_and_notify

        events = evaluate_and_notify(dry_run=dry_run)
        if as_json:
            emit_json(
                [
                    {
                        "alert_key": e.alert_key,
                        "kind": e.kind,
                        "severity": e.severity,
                        "message": e.message,
                        "delivered": e.delivered,
                        "error": e.error,
                    }
                    for e in events
                ]
            )
        else:
            for e in events:
                state = "would send" if dry_run else ("sent" if e.delivered else "not sent")
                extra = f" ({e.error})" if e.error else ""
                typer.echo(f"{state}: {e.text}{extra}")
            if not events:
                typer.echo("no alert changes")
        raise typer.Exit(1 if any(e.error for e in events) else 0)

    @app.command("reconcile")
    def reconcile_cmd(
        user_id: list[int] = typer.Option(
            None, "--user-id", help="Only these agents (repeatable); default all."
        ),
        against: str | None = typer.Option(
            None, "--against", help="Legacy PostgreSQL URL to compare final counts with."
        ),
        mapping: Path | None = typer.Option(
            None, "--mapping", help="YAML/JSON: which legacy table/query is which entity."
        ),
        tolerance: str = typer.Option(
            "0", "--tolerance", help="Allowed gap: rows (e.g. 5) or percent (e.g. 0.5%)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
    ) -> None:
        """Source-reported / raw / final / excluded by reason / gap per agent and entity."""
        from agentsync.quality.reconcile import Tolerance, reconcile
        from agentsync.quality.reconcile import as_json as rows_json

        _require_agents(user_id)
        rows = reconcile(
            user_ids=user_id or None,
            tolerance=Tolerance.parse(tolerance),
            against=against,
            mapping=mapping,
        )
        if as_json:
            emit_json_text(rows_json(rows))
        else:
            legacy = any(r.legacy is not None for r in rows)
            cols = ["user", "entity", "reported", "raw ids", "raw rows", "final", "excluded", "gap"]
            cols += ["legacy", "vs legacy"] if legacy else []
            cols.append("status")
            out = []
            for r in rows:
                excl = ", ".join(f"{k} {v}" for k, v in r.excluded.items() if v) or "-"
                line = [
                    r.user_id,
                    r.entity,
                    r.reported,
                    r.raw_ids,
                    r.raw_rows,
                    r.final,
                    excl,
                    r.unexplained_gap,
                ]
                line += [r.legacy, r.legacy_diff] if legacy else []
                line.append("ok" if r.ok else "FAIL: " + "; ".join(r.problems))
                out.append(line)
            table("reconciliation", cols, out)
        raise typer.Exit(0 if all(r.ok for r in rows) else 1)

    @app.command("rebuild")
    def rebuild(
        select: list[str] = typer.Option(
            None, "--select", help="dbt selection (repeatable), e.g. path:models/marts/crm."
        ),
    ) -> None:
        """Rebuild marts from raw: `dbt build --full-refresh` (no vendor API is called)."""
        from agentsync.transform import run_dbt

        args = ["build", "--full-refresh", *(["--select", *select] if select else [])]
        result = run_dbt(args, raise_on_failure=False)  # holds the database-wide dbt lock
        for line in result.failures:
            typer.echo(f"FAIL {line}")
        models = sum(1 for r in result.results if str(r.get("node", "")).startswith("model."))
        typer.echo(
            f"dbt {' '.join(args)}: {'ok' if result.success else 'FAILED'} ({models} models)"
        )
        raise typer.Exit(0 if result.success else 1)


def _require_agents(user_ids: list[int] | None) -> None:
    """Every agent asked for exists (else NotFoundError: one line, exit 4), so a check of an
    agent that is not there never reads as "passed" or as an empty, clean report."""
    from agentsync import agents

    for user_id in user_ids or []:
        agents.get_agent(user_id)
