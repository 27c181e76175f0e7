"""Follow Up Boss (FUB) source: per-agent dlt loads into ``raw_fub``, steps and entities.

Steps (run per agent by the flows, in this order):

- ``fub.reference``: users, stages, pipelines, groups (read in full each time).
- ``fub.people``: people incl. trash and custom fields, incremental by ``updatedAfter``.
- ``fub.activity``: deals, events, calls, appointments, text messages (depends on fub.people:
  text messages are listed per changed person).
- ``fub.deletions``: id reconciliation snapshots (``fields=id``) for deletion flags in the marts.

See :mod:`dlt_pipelines.fub.source` for cursors and raw shape, and
:mod:`dlt_pipelines.fub.webhooks` for the near-real-time path.
"""

from __future__ import annotations

from dlt_pipelines.common import EntityResult, EntitySpec, RunKind, StepSpec
from dlt_pipelines.fub.settings import ACTIVITY_STREAMS, REFERENCE_STREAMS

SOURCE = "fub"


def _reference(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    from dlt_pipelines.fub.source import run_streams

    return run_streams(user_id, kind, flow_run_id, REFERENCE_STREAMS)


def _people(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    from dlt_pipelines.fub.source import run_streams

    return run_streams(user_id, kind, flow_run_id, ("people",))


def _activity(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    from dlt_pipelines.fub.source import run_streams

    return run_streams(user_id, kind, flow_run_id, ACTIVITY_STREAMS)


def _deletions(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
    from dlt_pipelines.fub.source import run_deletions

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


_DELETED = {"deleted": "is_deleted"}

ENTITIES: list[EntitySpec] = [
    EntitySpec(SOURCE, "people", "raw_fub.people", "id", "marts.people", "person_id",
               "updated_at", {"deleted": "is_deleted", "trashed": "is_trashed"}),
    EntitySpec(SOURCE, "deals", "raw_fub.deals", "id", "marts.deals", "deal_id",
               "created_at", _DELETED),
    EntitySpec(SOURCE, "events", "raw_fub.events", "id", "marts.events", "event_id",
               "created_at", _DELETED),
    EntitySpec(SOURCE, "calls", "raw_fub.calls", "id", "marts.calls", "call_id",
               "updated_at", _DELETED),
    EntitySpec(SOURCE, "appointments", "raw_fub.appointments", "id", "marts.appointments",
               "appointment_id", "updated_at", _DELETED),
    EntitySpec(SOURCE, "text_messages", "raw_fub.text_messages", "id", "marts.text_messages",
               "text_message_id", "updated_at", _DELETED),
    # Users, like stages/pipelines/groups, are reference data that can go months unchanged: their
    # freshness is the last successful sync, not the age of the newest record.
    EntitySpec(SOURCE, "users", "raw_fub.users", "id", "marts.fub_users", "fub_user_id"),
    EntitySpec(SOURCE, "stages", "raw_fub.stages", "id", "marts.stages", "stage_id"),
    EntitySpec(SOURCE, "pipelines", "raw_fub.pipelines", "id", "marts.pipelines", "pipeline_id"),
    EntitySpec(SOURCE, "groups", "raw_fub.groups", "id", "marts.groups", "group_id"),
]  # fmt: skip

__all__ = ["ENTITIES", "SOURCE", "steps"]
