"""Follow Up Boss (FUB) source: its steps, as the flows run them per agent (:func:`steps`).

What each step loads, with which cursor, and the raw shape: :mod:`dlt_pipelines.fub.source`
(the cursor table is there and only there). The near-real-time path:
:mod:`webhooks.fub`. The entities it loads: :data:`agentsync.entities.FUB`.
"""

from __future__ import annotations

from agentsync.contracts import EntityResult, RunKind, StepSpec
from dlt_pipelines.fub.settings import ACTIVITY_STREAMS, REFERENCE_STREAMS
from dlt_pipelines.fub.source import run_deletions, run_streams

SOURCE = "fub"


def _reference(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_streams(user_id, kind, flow_run_id, REFERENCE_STREAMS)


def _people(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_streams(user_id, kind, flow_run_id, ("people",))


def _activity(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_streams(user_id, kind, flow_run_id, ACTIVITY_STREAMS)


def _deletions(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    return run_deletions(user_id, kind, flow_run_id)


def steps() -> list[StepSpec]:
    """FUB's onboarding/sync steps in dependency order."""
    return [
        StepSpec(SOURCE, "reference", _reference, (), "FUB users, stages, pipelines, groups"),
        StepSpec(SOURCE, "people", _people, (), "FUB people (trash included, custom fields)"),
        StepSpec(
            SOURCE,
            "activity",
            _activity,
            ("fub.people",),
            "FUB deals, events, calls, appointments, text messages",
        ),
        StepSpec(
            SOURCE,
            "deletions",
            _deletions,
            ("fub.people", "fub.activity"),
            "FUB id reconciliation: flags deleted records in the marts",
        ),
    ]


__all__ = ["SOURCE", "steps"]
