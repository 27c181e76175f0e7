"""``agentsync webhooks``: receive Follow Up Boss webhooks (serve), process pending, register."""

from __future__ import annotations

import typer

from agentsync.commands.output import emit_json
from agentsync.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    """Add ``agentsync webhooks serve|process|replay|register``."""
    grp = typer.Typer(
        help="Follow Up Boss webhooks (near-real-time updates).", no_args_is_help=True
    )

    @grp.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
        port: int = typer.Option(8780, help="Port to listen on."),
        transform: bool = typer.Option(
            True, help="Rebuild the FUB marts after each processed batch."
        ),
    ) -> None:
        """Receive webhooks at POST /fub/webhooks/<user_id>; pending events are processed first."""
        import uvicorn

        from agentsync import db
        from webhooks.fub import Worker, make_app

        if not 0 < port < 65536:
            raise InvalidInputError("--port must be between 1 and 65535")
        db.ensure_ready()
        worker = Worker(transform=transform)
        worker.start()
        typer.echo(f"FUB webhooks receiver on http://{host}:{port}/fub/webhooks/<user_id>")
        try:
            uvicorn.run(make_app(worker), host=host, port=port, log_level="warning")
        finally:
            worker.stop()

    @grp.command("process")
    def process(
        user_id: int = typer.Option(None, "--user-id", help="Only this agent's events."),
        transform: bool = typer.Option(True, help="Rebuild the FUB marts afterwards."),
    ) -> None:
        """Process received (and retryable failed) webhook events now."""
        from agentsync import db
        from webhooks.fub import process_pending, transform_fub

        db.ensure_ready()
        counts = process_pending(user_id)
        if transform and counts["processed"]:
            transform_fub()
        emit_json(counts, indent=None)

    @grp.command("replay")
    def replay_cmd(
        user_id: int = typer.Option(None, "--user-id", help="Only this agent's events."),
        status: str = typer.Option(
            "failed", "--status", help="Which events to re-queue: failed (default) or processed."
        ),
    ) -> None:
        """Re-queue events (failed ones by default) with a fresh attempt budget."""
        from agentsync import db
        from webhooks.fub import replay

        if status not in ("failed", "processed"):
            raise InvalidInputError("--status must be failed or processed")
        db.ensure_ready()
        n = replay(user_id, status)
        emit_json({"requeued": n}, indent=None)

    @grp.command("register")
    def register_cmd(
        user_id: int = typer.Option(..., "--user-id", help="The agent whose FUB account to use."),
        callback_root: str = typer.Option(
            ..., help="Public root URL of this receiver, e.g. https://sync.example.com"
        ),
        event: list[str] = typer.Option(None, help="Event names (default: all the source loads)."),
    ) -> None:
        """Subscribe the agent's FUB account to webhooks pointing at this receiver."""
        from webhooks.fub import DEFAULT_EVENTS, register_webhooks

        if not callback_root.startswith(("http://", "https://")):
            raise InvalidInputError("--callback-root must be an http(s) URL")
        subs = register_webhooks(user_id, callback_root, event or DEFAULT_EVENTS)
        emit_json(subs)

    app.add_typer(grp, name="webhooks")
