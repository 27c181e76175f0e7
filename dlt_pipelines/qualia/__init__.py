"""Qualia source: per-agent title orders over GraphQL into ``raw_qualia``, and its one step.

``qualia.orders`` (:func:`run_orders`): what it reads and its incremental rule (which replaces
the legacy "today's orders" pull) are in :mod:`dlt_pipelines.qualia.source`; how the load runs
and is booked, :mod:`dlt_pipelines.run`. Mart: ``marts.title_orders``. The entity is declared in
:data:`agentsync.entities.QUALIA`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from agentsync.contracts import EntityResult, RunKind, StepSpec
from agentsync.settings import Settings, get_settings
from dlt_pipelines.qualia import settings as qualia_settings
from dlt_pipelines.qualia.client import open_client
from dlt_pipelines.qualia.source import named_for, read_orders
from dlt_pipelines.run import SourceRun

log = logging.getLogger(__name__)
SOURCE = "qualia"


def run_orders(
    user_id: int, kind: RunKind, flow_run_id: str | None, settings: Settings | None = None
) -> EntityResult:
    """Load one agent's title orders (every order on an onboarding); booked in
    ``ops.sync_runs`` as ``orders``."""
    settings = settings or get_settings()
    knobs = qualia_settings.load()
    with (
        SourceRun(SOURCE, user_id, kind, flow_run_id, settings=settings) as run,
        run.entities("orders") as load,
        open_client(user_id, settings) as client,
    ):
        args = (
            client,
            user_id,
            load.counts["orders"],
            run.quarantine,
            kind == "onboarding",
            timedelta(days=knobs.full_reread_days),
            knobs.page_size,
            knobs.lookback_orders,
        )
        source = named_for(run.pipeline_name)  # its name is the state's key
        load.land_read(  # a quiet day ends with the read, without dlt's extract
            source.name,
            "orders",
            lambda state: read_orders(*args, state),
            lambda rows: source(*args, settings.typed_loads, rows),
        )
    [result] = load.results
    log.info(
        "qualia orders for agent %s (%s read): %s rows, %s quarantined, %s re-read unchanged",
        user_id,
        load.counts["orders"].read,
        result.rows,
        result.quarantined,
        load.counts["orders"].unchanged,
    )
    return result


def _orders(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return [run_orders(user_id, kind, flow_run_id)]


def steps() -> list[StepSpec]:
    """Qualia's onboarding/sync steps."""
    return [StepSpec(SOURCE, "orders", _orders, (), "Qualia title orders (GraphQL)")]


__all__ = ["SOURCE", "run_orders", "steps"]
