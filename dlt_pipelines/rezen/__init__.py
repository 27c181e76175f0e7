"""reZEN (Real Brokerage) source: per-agent dlt loads into ``raw_rezen`` and its steps.

Steps, in dependency order (enforced by ``StepSpec.depends_on``), matching the legacy onboarding
order (team members → agent → network downline → cap data → frontline → sponsor tree →
transactions → listings → participants → equity → revshare payments → contributions (and
pending) → contributors):

- ``rezen.teams``: the agent's teams and roster (members, owners/leaders, admins).
- ``rezen.agents``: the agent (``agents/me``), its down-line tiers 1-5 with every status, cap info,
  front-line and sponsor tree - the agents that transaction participants point at.
- ``rezen.transactions``: transactions and listing transactions per lifecycle (open, closed,
  terminated).
- ``rezen.participants``: transaction detail (participants, splits, financials) for every new or
  changed transaction; participants naming an agent that is not known are kept and reported.
- ``rezen.contributions``: equity, revshare payments, contributions (and pending), contributors.

See :mod:`dlt_pipelines.rezen.source` for endpoints, cursors and raw shape per stream. The
entities it loads are declared in :data:`agentsync.entities.REZEN`.
"""

from __future__ import annotations

from agentsync.contracts import EntityResult, RunKind, StepSpec
from dlt_pipelines.rezen.settings import STEP_ENTITIES
from dlt_pipelines.rezen.source import run_step

SOURCE = "rezen"
_DESCRIPTIONS = {
    "teams": "reZEN teams and roster (members, leaders, admins)",
    "agents": "reZEN agent, network down-line tiers 1-5 (every status), cap, front-line, sponsors",
    "transactions": "reZEN transactions and listings per lifecycle (open, closed, terminated)",
    "participants": "reZEN transaction detail: participants, splits, financials",
    "contributions": "reZEN equity, revshare payments, contributions (and pending), contributors",
}
_ORDER = ("teams", "agents", "transactions", "participants", "contributions")


def _runner(step: str):
    def run(user_id: int, kind: RunKind, flow_run_id: str | None) -> list[EntityResult]:
        return run_step(step, user_id, kind, flow_run_id)

    run.__name__ = f"rezen_{step}"
    return run


def steps() -> list[StepSpec]:
    """reZEN's onboarding/sync steps in dependency order (each depends on the one before)."""
    out: list[StepSpec] = []
    for i, name in enumerate(_ORDER):
        depends = (f"{SOURCE}.{_ORDER[i - 1]}",) if i else ()
        out.append(StepSpec(SOURCE, name, _runner(name), depends, _DESCRIPTIONS[name]))
    return out


assert set(STEP_ENTITIES) == set(_ORDER)
__all__ = ["SOURCE", "steps"]
