"""reZEN (Real Brokerage) source: per-agent dlt loads into ``raw_rezen``, steps and entities.

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

See :mod:`dlt_pipelines.rezen.source` for endpoints, cursors and raw shape per stream.
"""

from __future__ import annotations

from dlt_pipelines.common import EntityResult, EntitySpec, RunKind, StepSpec
from dlt_pipelines.rezen.settings import STEP_ENTITIES

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
        from dlt_pipelines.rezen.source import run_step

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


def _e(
    entity: str,
    raw: str,
    mart: str | None,
    mart_id: str,
    fresh: str | None,
    raw_id: str = "id",
    excluded: dict[str, str] | None = None,
) -> EntitySpec:
    return EntitySpec(
        SOURCE, entity, f"raw_rezen.{raw}", raw_id, mart, mart_id, fresh, excluded or {}
    )


ENTITIES: list[EntitySpec] = [
    _e("teams", "teams", "marts.teams", "team_id", "loaded_at"),
    _e("team_members", "team_members", "marts.team_roster", "agent_id", None, "agent__id"),
    _e("agent", "agent", "marts.agents", "agent_id", "loaded_at"),
    _e("network", "network", "marts.network", "agent_id", "updated_at"),
    _e("cap_info", "cap_info", "marts.agent_cap", "agent_id", "loaded_at"),
    _e("front_line", "front_line", None, "agent_id", None),
    _e("sponsors", "sponsors", None, "sponsor_id", None),
    _e("transactions", "transactions", "marts.rezen_transactions", "transaction_id", "updated_at"),
    _e("listings", "listings", "marts.rezen_listings", "listing_id", "updated_at"),
    _e(
        "participants",
        "transaction_participants",
        "marts.transaction_participants",
        "participant_id",
        None,
    ),
    _e("equity", "equity", "marts.equity", "equity_id", "purchased_at"),
    _e(
        "revshare_payments", "revshare_payments", "marts.revshare_payments", "payment_id", "paid_at"
    ),
    # marts.contributions holds paid and pending rows; pending ones are flagged is_pending.
    _e(
        "contributions",
        "contributions",
        "marts.contributions",
        "contribution_id",
        "transaction_closed_at",
        excluded={"pending": "is_pending"},
    ),
    # The pending list is a snapshot (the newest load is current), merged into
    # marts.contributions with is_pending = true; no mart of its own.
    _e("pending_contributions", "pending_contributions", None, "contribution_id", None),
    _e("contributors", "contributors", "marts.contributors", "contributor_id", None),
]

assert set(STEP_ENTITIES) == set(_ORDER)
__all__ = ["ENTITIES", "SOURCE", "steps"]
