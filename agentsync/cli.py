"""The ``agentsync`` command: the front door for people.

Exit codes (every subcommand): 0 success; 1 failure of the work itself (a failed run, a failing
gate, a health warning); 2 a bad setting or bad input, including a malformed database URL or one
the server refuses (wrong password, unknown database), or health critical; 3 database
unreachable (no server answers at the URL, or the embedded one cannot start); 4 something named
does not exist; 5 conflict with what exists; 6 a vendor API refused. User mistakes print one line
on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import typer

from agentsync.commands import REGISTRARS
from agentsync.commands.output import json_only_stdout
from agentsync.console import hide_tracebacks
from agentsync.errors import AgentsyncError

app = typer.Typer(
    name="agentsync",
    help="SQL-first ELT for real-estate brokerages: FUB, reZEN, SkySlope and Qualia → PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        hide_tracebacks()  # the command's own output says what failed; -v shows tracebacks
        # Library chatter that is not actionable for an operator (dlt's "column received no data"
        # hints, GX's float-serialisation notes); --verbose shows it again.
        os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
        for noisy in ("dlt", "great_expectations"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


for register in REGISTRARS:
    register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning known errors into one line + exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        with json_only_stdout() if "--json" in args else contextlib.nullcontext():
            app(args=args, standalone_mode=True)
    except AgentsyncError as err:
        typer.echo(f"agentsync: error: {err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        typer.echo("agentsync: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
