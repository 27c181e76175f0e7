"""reZEN (Real Brokerage) source: per-agent dlt loads into ``raw_rezen``, and its steps.

Steps, in dependency order (enforced by ``StepSpec.depends_on`` and, for a step run on its own,
by :func:`require_previous_steps`), matching the legacy onboarding order (team members → agent →
network downline → cap data → frontline → sponsor tree → transactions → listings → participants
→ equity → revshare payments → contributions (and pending) → contributors):

- ``rezen.teams``: the agent's teams and roster (members, owners/leaders, admins).
- ``rezen.agents``: the agent (``agents/me``), its down-line tiers 1-5 with every status, cap info,
  front-line and sponsor tree - the agents that transaction participants point at.
- ``rezen.transactions``: transactions and listing transactions per lifecycle (open, closed,
  terminated).
- ``rezen.participants``: transaction detail (participants, splits, financials) for every new or
  changed transaction; participants naming an agent that is not known are kept, and reported by
  dbt (``marts.unresolved_agent_references`` and its warning test).
- ``rezen.contributions``: equity, revshare payments, contributions (and pending), contributors.

Each step is one dlt load of its entities (:func:`run_step`). Endpoints, cursors and raw shape
per entity: :mod:`dlt_pipelines.rezen.source`; how a load runs and is booked:
:mod:`dlt_pipelines.run`. The entities it loads are declared in :data:`agentsync.entities.REZEN`.
"""

from __future__ import annotations

import functools

from sqlalchemy import text

from agentsync import db
from agentsync.contracts import EntityResult, RunKind, StepSpec
from agentsync.errors import AgentsyncError
from agentsync.settings import get_settings
from dlt_pipelines.rezen.client import open_client
from dlt_pipelines.rezen.settings import STEP_ENTITIES
from dlt_pipelines.rezen.source import RezenAccount, read, resources_of, rezen_source
from dlt_pipelines.run import EntityCounts, SourceRun

SOURCE = "rezen"
_DESCRIPTIONS = {
    "teams": "reZEN teams and roster (members, leaders, admins)",
    "agents": "reZEN agent, network down-line tiers 1-5 (every status), cap, front-line, sponsors",
    "transactions": "reZEN transactions and listings per lifecycle (open, closed, terminated)",
    "participants": "reZEN transaction detail: participants, splits, financials",
    "contributions": "reZEN equity, revshare payments, contributions (and pending), contributors",
}
_ORDER = ("teams", "agents", "transactions", "participants", "contributions")


class StepOrderError(AgentsyncError):
    """A step was asked to run before the steps it depends on succeeded for that agent."""


def require_previous_steps(step: str, user_id: int) -> None:
    """Enforce the dependency order: every entity of every earlier step has a ``done`` run.

    Raises:
        StepOrderError: naming the step and the entities that never loaded for this agent.
    """
    order = list(STEP_ENTITIES)
    needed = [e for s in order[: order.index(step)] for e in STEP_ENTITIES[s]]
    if not needed:
        return
    with db.begin() as conn:
        done = set(
            conn.execute(
                text(
                    "select distinct entity from ops.sync_runs where user_id = :u "
                    "and source = :s and status = 'done'"
                ),
                {"u": user_id, "s": SOURCE},
            ).scalars()
        )
    missing = [e for e in needed if e not in done]
    if missing:
        raise StepOrderError(
            f"agent {user_id}: rezen.{step} needs the earlier reZEN steps to have succeeded "
            f"first; never loaded: {', '.join(missing)}"
        )


def _contributions_total(counts: dict[str, EntityCounts]) -> None:
    """``marts.contributions`` holds paid and pending rows (pending flagged ``is_pending``), so
    the total it is reconciled against covers both lists; the pending list is a snapshot with no
    mart of its own, so it reports no total of its own."""
    if "contributions" in counts and "pending_contributions" in counts:
        paid = counts["contributions"]
        if paid.reported_total is not None:
            paid.reported_total += counts["pending_contributions"].reported_total or 0
        counts["pending_contributions"].reported_total = None


def run_step(
    step: str, user_id: int, kind: RunKind, flow_run_id: str | None = None
) -> list[EntityResult]:
    """Load one step's entities for one agent in one dlt load; each entity booked in
    ``ops.sync_runs``.

    Raises:
        StepOrderError: an earlier step (in ``STEP_ENTITIES`` order) never succeeded.
        IntegrationError: reZEN refused the agent's API key.
    """
    entities = STEP_ENTITIES[step]
    settings = get_settings()
    db.ensure_ready(settings)
    require_previous_steps(step, user_id)
    with (
        SourceRun(SOURCE, user_id, kind, flow_run_id, settings=settings) as run,
        run.entities(*entities) as load,
        open_client(user_id, settings) as client,
    ):
        me = client.get("yenta", "/agents/me")
        account = RezenAccount(user_id, client, me, run.quarantine, load.counts)
        load.land_reads(  # a quiet step ends with its reads, without dlt's extract
            SOURCE,
            {r: functools.partial(read, account, r) for r in resources_of(entities)},
            lambda rows: rezen_source(account, entities, rows),
        )
        _contributions_total(load.counts)
    return load.results


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
__all__ = ["SOURCE", "StepOrderError", "require_previous_steps", "run_step", "steps"]
