"""SkySlope source: per-agent dlt loads into ``raw_skyslope`` and its steps.

Steps (per agent, independent of each other; each logs in with the agent's HMAC credential):

- ``skyslope.users``: the account's users (full read).
- ``skyslope.listings``: listing files, incremental by modified-date window.
- ``skyslope.sales``: sale files (transactions), incremental by modified-date window.

See :mod:`dlt_pipelines.skyslope.source` (raw shape, windows) and
:mod:`dlt_pipelines.skyslope.client` (HMAC login, session renewal).
The entities it loads are declared in :data:`agentsync.entities.SKYSLOPE`.
"""

from __future__ import annotations

from agentsync.contracts import EntityResult, RunKind, StepSpec
from dlt_pipelines.skyslope.source import run_entity

SOURCE = "skyslope"


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


__all__ = ["SOURCE", "steps"]
