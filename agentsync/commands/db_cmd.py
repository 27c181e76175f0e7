"""``agentsync db``: the database agentsync uses (embedded or configured)."""

from __future__ import annotations

import typer

from agentsync import db
from agentsync.commands.output import emit_json
from agentsync.migrate import current_revision
from agentsync.settings import get_settings


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="The database: status and migrations.", no_args_is_help=True)

    @grp.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Start/reach the database, apply migrations, and report where it is."""
        settings = get_settings()
        url = db.ensure_ready(settings)
        info = {
            "mode": "embedded" if settings.embedded else "external",
            "url": db.redact_url(url),
            "data_dir": str(settings.data_dir),
            "migration": current_revision(settings),
            "server_pid": db.embedded_server_pid(settings) if settings.embedded else None,
        }
        if as_json:
            emit_json(info)
        else:
            for key, value in info.items():
                typer.echo(f"{key:>10}: {value}")

    @grp.command("migrate")
    def migrate() -> None:
        """Apply pending ops-schema migrations (also done automatically by every command)."""
        db.ensure_ready()
        typer.echo(f"ops schema at {current_revision()}")

    app.add_typer(grp, name="db")
