"""Running dbt against agentsync's database.

dbt runs through its own programmatic ``dbtRunner``; inside a Prefect flow or task run with
``AGENTSYNC_DBT_TASK_PER_NODE`` on, through ``prefect_dbt.PrefectDbtRunner`` instead (each node
a Prefect task run, which costs about five times the build on 2 cores). In a Prefect run dbt's
own log lines go to the run's log either way (at ``DBT_LOG_LEVEL``, else Prefect's level), not to
stdout. Both use the project in ``dbt_project/`` and the profile there, whose connection comes
from environment variables set here from agentsync's settings; the password is
passed as ``DBT_ENV_SECRET_*`` so dbt scrubs it from its logs. Target and log paths live in the
data dir so a read-only checkout works and concurrent checkouts don't collide.

Every invocation holds the database-wide dbt lock (:func:`agentsync.locks.dbt_lock`) while dbt
runs, whoever calls: a flow, the FUB webhook worker, the quality gate or a CLI command. A second
invocation against the same database waits for the first (in this process or another), so two
builds never interleave their writes to the incremental marts and the processed-load state.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentsync import db
from agentsync.errors import AgentsyncError
from agentsync.locks import dbt_lock
from agentsync.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


class DbtError(AgentsyncError):
    """A dbt command failed; the message names the failing nodes."""


@dataclass
class DbtResult:
    success: bool
    args: list[str]
    failures: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    # dbt could not run the command at all (bad arguments, a project that does not parse)
    invocation_error: str | None = None


def target_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.data_dir / "dbt" / "target"


def dbt_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment variables the dbt profile reads."""
    settings = settings or get_settings()
    info = db.conn_info(settings)
    return {
        "AGENTSYNC_DBT_HOST": info.host,
        "AGENTSYNC_DBT_PORT": str(info.port),
        "AGENTSYNC_DBT_USER": info.user,
        "AGENTSYNC_DBT_DBNAME": info.dbname,
        "DBT_ENV_SECRET_AGENTSYNC_PASSWORD": info.password,
        "DBT_TARGET_PATH": str(target_dir(settings)),
        "DBT_LOG_PATH": str(settings.data_dir / "dbt" / "logs"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DBT_PROJECT_DIR": str(PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # read by dbt_project/macros/skyslope/skyslope_quirks.sql (also when set in .env)
        "AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE": settings.skyslope_naive_timezone,
    }


def _colours_wanted() -> bool:
    """dbt colours its log lines only for a person at a terminal: never in a pipe, a file, a
    ``NO_COLOR`` run or a Prefect run (whose logs end up in the UI as raw escape codes)."""
    if os.environ.get("NO_COLOR") or _in_prefect_run():
        return False
    return sys.stdout.isatty()


def _plain_until_flags_are_read() -> None:
    """dbt's event logger starts with colours on (``dbt_common.events`` installs a default stdout
    logger with ``use_colors=True`` at import) and uses it for what it reports before it has read
    its flags, e.g. invalid ``--vars`` YAML, which then starts with an ANSI reset in a pipe or a
    Prefect log. Once dbt has read ``DBT_USE_COLORS`` it replaces that logger itself."""
    from dbt_common import ui
    from dbt_common.events.event_manager_client import get_event_manager

    ui.USE_COLOR = False
    for logger in get_event_manager().loggers:
        if hasattr(logger, "use_colors"):
            logger.use_colors = False


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext  # Prefect loads slowly: only here

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


_LEVELS = {"debug": 10, "test": 10, "info": 20, "warn": 30, "error": 40}


def _run_log_forwarder() -> tuple[Any, str]:
    """A dbt event callback that writes dbt's log lines to the current Prefect run's log, and
    the level it keeps (``DBT_LOG_LEVEL``, else Prefect's logging level).

    The run logger is taken here, in the calling thread: dbt fires events from its own node
    threads, which do not carry Prefect's run context.
    """
    from prefect.logging import get_run_logger
    from prefect.settings import get_current_settings

    level = (os.environ.get("DBT_LOG_LEVEL") or get_current_settings().logging.level).lower()
    level = "warn" if level == "warning" else level if level in _LEVELS else "info"
    floor = _LEVELS[level]
    logger = get_run_logger()

    def forward(event: Any) -> None:
        number = _LEVELS.get(str(event.info.level), 20)
        if number >= floor and event.info.msg:
            logger.log(number, event.info.msg)

    return forward, level


def _summarise(res: Any, args: list[str]) -> DbtResult:
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for r in getattr(getattr(res, "result", None), "results", None) or []:
        node = getattr(r, "node", None)
        name = getattr(node, "unique_id", None) or getattr(node, "name", "?")
        status = str(getattr(r, "status", ""))
        results.append({"node": name, "status": status, "message": getattr(r, "message", None)})
        if status in {"error", "fail", "runtime error"}:
            failures.append(f"{name}: {status}: {getattr(r, 'message', '')}")
    success = bool(getattr(res, "success", False))
    exception = getattr(res, "exception", None)
    if not success and not failures and exception is not None:
        failures.append(str(exception))
    return DbtResult(
        success=success,
        args=args,
        failures=failures,
        results=results,
        invocation_error=str(exception) if exception is not None else None,
    )


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    *,
    raise_on_failure: bool = True,
    use_prefect: bool | None = None,
) -> DbtResult:
    """Run one dbt command (e.g. ``["build", "--select", "staging.fub+"]``).

    Waits for the database-wide dbt lock first (re-entrant: a caller may already hold it).
    """
    settings = settings or get_settings()
    db.ensure_ready(settings)  # ops.dbt_* bookkeeping tables must exist
    env = dbt_env(settings)
    env["DBT_USE_COLORS"] = "true" if _colours_wanted() else "false"
    env["DBT_USE_COLORS_FILE"] = "false"
    with dbt_lock(settings):
        os.environ.update(env)
        if env["DBT_USE_COLORS"] == "false":
            _plain_until_flags_are_read()
        full = list(args)
        if args and not args[0].startswith("-"):  # a subcommand (not ``--version``, ``--help``)
            full += ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
        if use_prefect is None:
            use_prefect = settings.dbt_task_per_node and _in_prefect_run()
        prefect = use_prefect
        if prefect:
            from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

            runner = PrefectDbtRunner(
                settings=PrefectDbtSettings(
                    project_dir=PROJECT_DIR,
                    profiles_dir=PROJECT_DIR,
                    target_path=target_dir(settings),
                ),
                raise_on_failure=False,
            )
            try:
                res = runner.invoke(list(args))
            except ValueError as err:  # prefect-dbt raises ValueError on an invocation exception
                result = DbtResult(False, args, [str(err)])
                if raise_on_failure:
                    raise DbtError(f"dbt {' '.join(args)} failed: {err}") from None
                return result
        else:
            from dbt.cli.main import dbtRunner

            callbacks, quiet = [], {}
            if _in_prefect_run():
                forward, level = _run_log_forwarder()
                callbacks.append(forward)
                quiet = {"log_level": "none", "log_level_file": level}
            res = dbtRunner(callbacks=callbacks).invoke(full, **quiet)
    result = _summarise(res, args)
    if raise_on_failure and not result.success:
        detail = "; ".join(result.failures[:10]) or "see dbt logs"
        raise DbtError(f"dbt {' '.join(args)} failed: {detail}")
    return result
