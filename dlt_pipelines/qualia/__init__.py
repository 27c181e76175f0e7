"""Qualia source: per-agent title orders over GraphQL into ``raw_qualia`` and its steps.

One step, ``qualia.orders`` (see :mod:`dlt_pipelines.qualia.source` for the incremental rule
that replaces the legacy "today's orders" pull). Mart: ``marts.title_orders``.
The entity is declared in :data:`agentsync.entities.QUALIA`.
"""

from __future__ import annotations

from agentsync.contracts import EntityResult, RunKind, StepSpec
from dlt_pipelines.qualia.source import run_orders

SOURCE = "qualia"


def _orders(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return [run_orders(user_id, kind, flow_run_id)]


def steps() -> list[StepSpec]:
    """Qualia's onboarding/sync steps."""
    return [StepSpec(SOURCE, "orders", _orders, (), "Qualia title orders (GraphQL)")]


__all__ = ["SOURCE", "steps"]
