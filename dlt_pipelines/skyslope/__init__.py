"""SkySlope source: per-agent dlt loads into ``raw_skyslope``, and its steps.

Steps (per agent, independent of each other; each logs in with the agent's HMAC credential),
each run by :func:`run_entity`:

- ``skyslope.users``: the account's users (full read).
- ``skyslope.listings``: listing files, incremental by modified-date window.
- ``skyslope.sales``: sale files (transactions), incremental by modified-date window.

What each reads, raw shape and windows: :mod:`dlt_pipelines.skyslope.source`; HMAC login,
session renewal and paging: :mod:`dlt_pipelines.skyslope.client`; how a load runs and is booked:
:mod:`dlt_pipelines.run`. The entities it loads are declared in
:data:`agentsync.entities.SKYSLOPE`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentsync.contracts import EntityResult, RunKind, StepSpec
from agentsync.errors import SettingError
from agentsync.settings import Settings, get_settings
from dlt_pipelines.run import SourceRun
from dlt_pipelines.skyslope import settings as skyslope_settings
from dlt_pipelines.skyslope.client import open_client
from dlt_pipelines.skyslope.source import named_for, read

log = logging.getLogger(__name__)
SOURCE = "skyslope"


def run_entity(
    user_id: int,
    kind: RunKind,
    flow_run_id: str | None,
    entity: str,
    settings: Settings | None = None,
) -> EntityResult:
    """Load one entity (``users``, ``listings`` or ``sales``) for one agent; booked in
    ``ops.sync_runs`` under the entity's name."""
    settings = settings or get_settings()
    knobs = skyslope_settings.load()
    try:
        naive_tz = ZoneInfo(settings.skyslope_naive_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            "AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE is not a known IANA timezone "
            "(e.g. America/Los_Angeles)"
        ) from None
    with (
        SourceRun(SOURCE, user_id, kind, flow_run_id, settings=settings) as run,
        run.entities(entity) as load,
        open_client(user_id, settings) as client,
    ):
        full = kind == "onboarding"
        lag = knobs.window_lag_hours * 3600
        reread = timedelta(days=knobs.full_reread_days)
        counts = load.counts[entity]
        source = named_for(run.pipeline_name)  # its name is the state's key
        load.land_read(  # a quiet day ends with the read, without dlt's extract
            source.name,
            entity,
            lambda state: read(
                entity, client, user_id, counts, run.quarantine, full, naive_tz, lag, reread, state
            ),
            lambda rows: source(
                client,
                user_id,
                load.counts,
                run.quarantine,
                full,
                naive_tz,
                lag,
                reread,
                settings.typed_loads,
                {entity: rows},
            ).with_resources(entity),
        )
        logins = client.logins
    [result] = load.results
    log.info(
        "skyslope %s for agent %s (%s read): %s rows, %s quarantined, %s already in raw, %s logins",
        entity,
        user_id,
        load.counts[entity].read,
        result.rows,
        result.quarantined,
        load.counts[entity].unchanged,
        logins,
    )
    return result


def _step(entity: str):
    def run(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
        return [run_entity(user_id, kind, flow_run_id, entity)]

    run.__name__ = f"skyslope_{entity}"
    return run


def steps() -> list[StepSpec]:
    """SkySlope's onboarding/sync steps in order."""
    return [
        StepSpec(SOURCE, "users", _step("users"), (), "SkySlope account users"),
        StepSpec(SOURCE, "listings", _step("listings"), (), "SkySlope listing files"),
        StepSpec(SOURCE, "sales", _step("sales"), (), "SkySlope sale files (transactions)"),
    ]


__all__ = ["SOURCE", "run_entity", "steps"]
