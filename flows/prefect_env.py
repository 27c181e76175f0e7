"""Prefect settings agentsync chooses before Prefect is imported.

Prefect reads its settings from the environment when it is first imported, so these are set as
environment defaults (anything already set wins, e.g. ``PREFECT_API_URL`` in production):

- ``PREFECT_HOME`` under ``<AGENTSYNC_DATA_DIR>/prefect``: the demo stays self-contained and the
  temporary API's SQLite database lives beside agentsync's other state;
- a long ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``: the temporary API needs ~25 s to
  start on a busy 2-core machine (measured here), more than Prefect's default allows;
- before anything starts a new temporary API: a temporary API server that a killed run of the
  same ``PREFECT_HOME`` left behind is stopped (:mod:`agentsync.orphans`);
- no analytics/telemetry (there is no internet here, and it only logs errors);
- ``DBT_LOG_LEVEL`` when Prefect logs at WARNING or CRITICAL: prefect-dbt 0.7.25 derives dbt's
  level from Prefect's and fails with ``'warning' is not a valid EventLevel`` otherwise
  (found running the demo here).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from agentsync import orphans
from agentsync.errors import SettingError
from agentsync.settings import get_settings

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
}


def configure_prefect_env(quiet: bool = False) -> dict[str, str]:
    """Set Prefect's environment defaults; returns what was set by this call.

    Args:
        quiet: also lower Prefect's console logging to warnings (the demo draws its own progress).
    """
    wanted = dict(DEFAULTS)
    # A bad setting is reported by whatever command runs, not at import: then nothing else is
    # done here either (no orphan sweep), so the command's one-line error is all it prints.
    settings_ok = False
    with contextlib.suppress(SettingError, OSError):
        home = get_settings().data_dir / "prefect"
        home.mkdir(parents=True, exist_ok=True)
        wanted["PREFECT_HOME"] = str(home)
        settings_ok = True
    # A temporary API server left running by a killed run of this data dir is stopped here.
    if settings_ok:
        with contextlib.suppress(Exception):
            orphans.reap_prefect_servers(
                Path(os.environ.get("PREFECT_HOME") or wanted["PREFECT_HOME"])
            )
    if quiet:
        wanted["PREFECT_LOGGING_LEVEL"] = "WARNING"
    changed = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(changed)
    # prefect-dbt turns Prefect's logging level into dbt's (``EventLevel("warning")`` fails:
    # dbt says "warn"), so a WARNING/CRITICAL Prefect level needs an explicit dbt level.
    level = os.environ.get("PREFECT_LOGGING_LEVEL", "").upper()
    dbt_level = {"WARNING": "warn", "CRITICAL": "error"}.get(level)
    if dbt_level and "DBT_LOG_LEVEL" not in os.environ:
        os.environ["DBT_LOG_LEVEL"] = changed["DBT_LOG_LEVEL"] = dbt_level
    return changed


# Imported lazily deep inside dlt and GX; two threads importing pandas at once fail with
# "partially initialized module 'pandas' has no attribute 'DataFrame'" (seen in the demo).
_IMPORT_BEFORE_THREADS = ("pandas", "pyarrow")


def start_api() -> None:
    """Make sure the Prefect API is up (and the lazily imported libraries loaded) before flows
    or agent extractions start in several threads at once.

    Without ``PREFECT_API_URL`` the first client starts Prefect's temporary API server; flows
    started together in threads would each try to start it, and all but one fail with "Server
    process did not start" (seen running the demo's onboardings together). Started once here,
    it serves every thread until the process ends.
    """
    import importlib

    from prefect.client.orchestration import get_client

    for name in _IMPORT_BEFORE_THREADS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with get_client(sync_client=True) as client:
        client.hello()
