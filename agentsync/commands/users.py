"""``agentsync users``: agents and their per-integration credentials.

Secrets can be given as options (convenient in a private shell), through ``--credentials-file``
(JSON: ``{"fub": {"api_key": "..."}, "rezen": {...}}``, ``-`` for stdin, preferred: nothing in
shell history or the process list). They are encrypted before they reach the database and are
never printed: ``users list`` shows only which integrations are connected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from agentsync import agents
from agentsync.commands.output import emit_json, table
from agentsync.errors import InvalidInputError

_SECRET = {"show_default": False}


def _read_credentials_file(path: str) -> dict[str, dict[str, Any]]:
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise InvalidInputError(f"--credentials-file {path}: {err.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InvalidInputError(
            f"--credentials-file {path} is not valid JSON (line {err.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"--credentials-file {path} must hold an object keyed by integration"
        )
    return data


def register(app: typer.Typer) -> None:
    grp = typer.Typer(
        help="Agents (platform user ids) and their credentials.", no_args_is_help=True
    )

    @grp.command("add")
    def add(
        user_id: int = typer.Option(..., "--user-id", help="The platform's integer user id."),
        name: str = typer.Option(..., "--name", help="Display name."),
        fub_api_key: str | None = typer.Option(None, help="FUB API key.", **_SECRET),
        fub_access_token: str | None = typer.Option(
            None, help="FUB OAuth access token.", **_SECRET
        ),
        fub_refresh_token: str | None = typer.Option(
            None, help="FUB OAuth refresh token.", **_SECRET
        ),
        fub_client_id: str | None = typer.Option(None, help="FUB OAuth client id.", **_SECRET),
        fub_client_secret: str | None = typer.Option(
            None, help="FUB OAuth client secret.", **_SECRET
        ),
        rezen_api_key: str | None = typer.Option(None, help="reZEN API key.", **_SECRET),
        skyslope_access_key: str | None = typer.Option(
            None, help="SkySlope access key.", **_SECRET
        ),
        skyslope_access_secret: str | None = typer.Option(None, help="SkySlope secret.", **_SECRET),
        skyslope_client_id: str | None = typer.Option(None, help="SkySlope client id.", **_SECRET),
        skyslope_client_secret: str | None = typer.Option(
            None, help="SkySlope client secret.", **_SECRET
        ),
        qualia_username: str | None = typer.Option(None, help="Qualia API user.", **_SECRET),
        qualia_password: str | None = typer.Option(None, help="Qualia API password.", **_SECRET),
        credentials_file: str | None = typer.Option(
            None, help="JSON file of credentials keyed by integration ('-' = stdin)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the new agent as JSON."),
    ) -> None:
        """Add an agent, optionally with credentials for fub, rezen, skyslope and qualia."""
        given = {
            "fub": {
                "api_key": fub_api_key,
                "access_token": fub_access_token,
                "refresh_token": fub_refresh_token,
                "client_id": fub_client_id,
                "client_secret": fub_client_secret,
            },
            "rezen": {"api_key": rezen_api_key},
            "skyslope": {
                "access_key": skyslope_access_key,
                "access_secret": skyslope_access_secret,
                "client_id": skyslope_client_id,
                "client_secret": skyslope_client_secret,
            },
            "qualia": {"username": qualia_username, "password": qualia_password},
        }
        creds: dict[str, dict[str, Any]] = {}
        for integration, fields in given.items():
            present = {k: v for k, v in fields.items() if v is not None}
            if present:
                creds[integration] = present
        if credentials_file:
            for integration, cred in _read_credentials_file(credentials_file).items():
                creds[integration] = cred
        agent = agents.add_agent(user_id, name, creds)
        if as_json:
            emit_json(agent.as_dict())
        else:
            connected = ", ".join(agent.integrations) or "none"
            typer.echo(f"added agent {agent.user_id} ({agent.name}); connected: {connected}")

    @grp.command("list")
    def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List agents and which integrations each has connected (never a secret)."""
        found = agents.list_agents()
        if as_json:
            emit_json([a.as_dict() for a in found])
            return
        table(
            "agents",
            ["user_id", "name", *agents.INTEGRATIONS],
            [
                [
                    a.user_id,
                    a.name,
                    *["yes" if i in a.integrations else "-" for i in agents.INTEGRATIONS],
                ]
                for a in found
            ],
        )

    @grp.command("set-credentials")
    def set_credentials(
        user_id: int = typer.Option(..., "--user-id"),
        integration: str = typer.Option(
            ..., "--integration", help="fub, rezen, skyslope or qualia."
        ),
        credentials_file: str = typer.Option(
            "-", help="JSON object of the credential's fields ('-' = stdin)."
        ),
    ) -> None:
        """Add or rotate one integration's credential for an agent."""
        cred = _read_credentials_file(credentials_file)
        agents.set_credential(user_id, integration, cred)
        typer.echo(f"stored {integration} credentials for agent {user_id}")

    @grp.command("disconnect")
    def disconnect(
        user_id: int = typer.Option(..., "--user-id"),
        integration: str = typer.Option(..., "--integration"),
    ) -> None:
        """Remove one integration's credential from an agent."""
        if integration not in agents.INTEGRATIONS:
            raise InvalidInputError(
                f"unknown integration {integration!r}; expected one of {', '.join(agents.INTEGRATIONS)}"
            )
        removed = agents.remove_credential(user_id, integration)
        typer.echo(
            f"{'removed' if removed else 'no'} {integration} credentials for agent {user_id}"
        )

    @grp.command("remove")
    def remove(user_id: int = typer.Option(..., "--user-id")) -> None:
        """Remove an agent and its credentials (loaded data stays in raw and marts)."""
        agents.remove_agent(user_id)
        typer.echo(f"removed agent {user_id}")

    app.add_typer(grp, name="users")
