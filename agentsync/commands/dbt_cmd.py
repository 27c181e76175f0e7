"""``agentsync dbt ARGS...``: any dbt command against agentsync's database, for analysts.

The project (``dbt_project/``), its profile and the connection come from agentsync's settings:
the embedded PostgreSQL is started for the duration (or the configured ``AGENTSYNC_DATABASE_URL``
is used), the password reaches dbt only as a ``DBT_ENV_SECRET_*`` variable (dbt scrubs it from
its output), and the command waits for the database-wide dbt lock like every build does, so it
never interleaves with a running sync's build.

Exit codes: dbt's own: 0 success, 1 a node failed (a model error, a failing test, a stale
source), 2 dbt could not run the command (bad arguments, a project that does not parse).
"""

from __future__ import annotations

import sys

import typer

from agentsync.errors import InvalidInputError

# Commands that keep running until stopped would hold the dbt lock (and block every build).
LONG_RUNNING = {("docs", "serve"): "use 'agentsync docs --serve' (it does not hold the dbt lock)"}


def run(args: list[str]) -> int:
    """Run ``dbt <args>`` with the project and the database; dbt's exit code."""
    from agentsync.transform import run_dbt

    for words, instead in LONG_RUNNING.items():
        if tuple(args[: len(words)]) == words:
            raise InvalidInputError(f"agentsync dbt {' '.join(words)}: {instead}")
    result = run_dbt(args, raise_on_failure=False)
    if result.success:
        return 0
    # dbtRunner reports "did not run" through its exception (dbt itself exits 2 then), node
    # failures through the results (dbt exits 1; it has printed which nodes failed)
    if result.invocation_error is not None and not result.results:
        lines = [ln.strip() for ln in result.invocation_error.splitlines() if ln.strip()]
        why = " ".join(lines)[:300] or "dbt could not run the command"
        raise InvalidInputError(f"agentsync dbt {' '.join(args[:2])}: {why}")
    return 1


def register(app: typer.Typer) -> None:
    @app.command(
        "dbt",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def dbt(ctx: typer.Context) -> None:
        """Run any dbt command on agentsync's project and database: agentsync dbt ls,
        agentsync dbt source freshness, agentsync dbt test -s people."""
        args = list(ctx.args)
        if args in ([], ["--help"], ["-h"]):  # this command's help, then dbt's: no database
            from dbt.cli.main import dbtRunner

            typer.echo(ctx.get_help())
            typer.echo("\ndbt's own commands and options (agentsync dbt <command> --help):\n")
            sys.stdout.flush()
            dbtRunner().invoke(["--help"])
            raise typer.Exit(0)
        sys.stdout.flush()
        raise typer.Exit(run(args))
