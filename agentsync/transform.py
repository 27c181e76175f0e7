"""Running dbt against agentsync's database.

Inside a Prefect flow or task run, dbt runs through ``prefect_dbt.PrefectDbtRunner`` (each node a
Prefect task, failures raised); elsewhere (CLI, tests of a single source) through dbt's own
programmatic ``dbtRunner``. Both use the project in ``dbt_project/`` and the profile there, whose
connection comes from environment variables set here from agentsync's settings; the password is
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


def _in_prefect_run() -> bool:
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:  # pragma: no cover - prefect is a dependency
        return False
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


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
    if not success and not failures and getattr(res, "exception", None) is not None:
        failures.append(str(res.exception))
    return DbtResult(success=success, args=args, failures=failures, results=results)


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
        full = [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
        prefect = _in_prefect_run() if use_prefect is None else use_prefect
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

            res = dbtRunner().invoke(full)
    result = _summarise(res, args)
    if raise_on_failure and not result.success:
        detail = "; ".join(result.failures[:10]) or "see dbt logs"
        raise DbtError(f"dbt {' '.join(args)} failed: {detail}")
    return result
