"""Qualia source: per-agent title orders over GraphQL into ``raw_qualia``; steps and entities.

One step, ``qualia.orders`` (see :mod:`dlt_pipelines.qualia.source` for the incremental rule
that replaces the legacy "today's orders" pull). Mart: ``marts.title_orders``.
"""

from __future__ import annotations

from dlt_pipelines.common import EntityResult, EntitySpec, RunKind, StepSpec

SOURCE = "qualia"


def _orders(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    from dlt_pipelines.qualia.source import run_orders

    return [run_orders(user_id, kind, flow_run_id)]


def steps() -> list[StepSpec]:
    """Qualia's onboarding/sync steps."""
    return [StepSpec(SOURCE, "orders", _orders, (), "Qualia title orders (GraphQL)")]


ENTITIES: list[EntitySpec] = [
    EntitySpec(
        SOURCE,
        "orders",
        "raw_qualia.orders",
        "order_id",
        "marts.title_orders",
        "order_id",
        "opened_at",
    )
]

__all__ = ["ENTITIES", "SOURCE", "steps"]
