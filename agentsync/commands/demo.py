"""``agentsync demo``: the main job on the embedded defaults."""

from __future__ import annotations

import typer

from agentsync import db
from agentsync.migrate import current_revision
from agentsync.settings import get_settings


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo() -> None:
        """Run the end-to-end demo on the embedded defaults (database, sandbox, demo agents)."""
        settings = get_settings()
        url = db.ensure_ready(settings)
        typer.echo(f"database ready: {db.redact_url(url)} (ops schema {current_revision()})")
