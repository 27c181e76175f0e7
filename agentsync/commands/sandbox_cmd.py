"""``agentsync sandbox``: serve the offline vendor replicas."""

from __future__ import annotations

import json
import os
import time

import typer

from agentsync.commands.output import emit_json
from agentsync.errors import InvalidInputError
from agentsync.settings import get_settings


def export_sandbox_epoch() -> None:
    """Put the configured ``AGENTSYNC_SANDBOX_EPOCH`` (environment or ``.env``) in the
    environment the sandbox reads, before it is imported (the sandbox imports nothing of ours).

    Raises:
        SettingError: the setting is not an ISO date/datetime (one line naming it).
    """
    pinned = get_settings().sandbox_epoch
    if pinned is not None:
        os.environ["AGENTSYNC_SANDBOX_EPOCH"] = pinned.isoformat()


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Offline replicas of the vendor APIs.", no_args_is_help=True)

    @grp.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
        port: int = typer.Option(8765, help="Port; 0 picks a free one."),
        seed: int = typer.Option(42, help="Seed: the same seed serves the same data."),
        scale: str = typer.Option(
            "tiny",
            help="tiny, small, medium, seed, fleet (250 agents, vendor limits on), or a number of FUB people.",
        ),
        faults: str = typer.Option(
            "", help="Faults to arm, e.g. 'fub:/v1/people*:rate_limit:3,rezen:*:server_error:2'."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print base URLs and agents as JSON."),
    ) -> None:
        """Serve all four APIs on one port; print base URLs and the demo agents' credentials."""
        export_sandbox_epoch()
        from sandbox.core import BadControl, free_port, start_in_thread

        try:
            running = start_in_thread(
                seed=seed, scale=scale, faults=faults, host=host, port=port or free_port(host)
            )
        except (BadControl, ValueError) as err:
            raise InvalidInputError(f"sandbox: {err}") from None
        info = {
            "url": running.url,
            "env": running.sandbox.env(),
            "agents": running.sandbox.demo_agents(),
        }
        if as_json:
            emit_json(info)
        else:
            typer.echo(f"sandbox serving on {running.url} (seed {seed}, scale {scale})")
            typer.echo("point agentsync at it with:")
            for key, value in info["env"].items():
                typer.echo(f"  export {key}={value}")
            typer.echo("demo agents (sandbox-only credentials):")
            for agent in info["agents"]:
                typer.echo(
                    f"  {agent['user_id']} {agent['name']}: {json.dumps(agent['credentials'])}"
                )
            typer.echo(f"control: {running.url}/_sandbox/state  (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            running.stop()

    app.add_typer(grp, name="sandbox")
