"""The CLI: ``--help`` on every command (never a secret in it), ``--json`` where output is data.

The command tree is walked from the Typer app itself, so a command added later is covered
without editing this file. ``--help`` needs no database: these tests run in-process and fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from typer.main import get_command
from typer.testing import CliRunner

from agentsync.cli import app

# Commands whose output is data (rows, a report, a status): each must offer --json.
DATA_COMMANDS = [
    "users add",
    "users list",
    "db status",
    "onboard create",
    "onboard run",
    "onboard status",
    "sync",
    "health",
    "alert",
    "reconcile",
    "quality-gate",
    "sandbox serve",
]


def _walk(command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


COMMANDS = dict(_walk(get_command(app)))


# Secrets in the environment while --help runs: no help text may show them (e.g. as a default).
SECRET_ENV = {
    "AGENTSYNC_DATABASE_URL": "postgresql://u:help-secret-pw@127.0.0.1:1/db",
    "AGENTSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "AGENTSYNC_FUB_SYSTEM_KEY": "help-secret-system-key",
}


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="agentsync", env={"COLUMNS": "200", **SECRET_ENV}
    )
    assert result.exit_code == 0, (path, result.output, result.exception)
    for secret in ("help-secret-pw", SECRET_ENV["AGENTSYNC_ENCRYPTION_KEY"], "help-secret-system"):
        assert secret not in result.output
    return " ".join(result.output.split())  # rich wraps and pads: compare word by word


def test_the_tree_has_every_area():
    groups = {path[0] for path in COMMANDS if path}
    assert {"users", "db", "onboard", "sandbox", "webhooks", "health", "sync"} <= groups
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "agentsync")
def test_help_on_every_command(path):
    text = _help(path)
    assert f"Usage: {' '.join(('agentsync', *path))}" in text
    summary = " ".join((COMMANDS[path].help or "").split("\n\n")[0].split())
    assert summary, f"agentsync {' '.join(path)} has no help text (docstring)"
    assert summary in text


@pytest.mark.parametrize("name", DATA_COMMANDS)
def test_data_commands_offer_json(name):
    path = tuple(name.split())
    assert path in COMMANDS, f"no command 'agentsync {name}'"
    assert "--json" in _help(path).split()
