"""Flow ``sync-agent``: one agent's daily extraction as a flow run of its own, on any worker.

The deployed daily sync (``daily-sync/daily``) starts one ``sync-agent/agent`` flow run per agent
(:mod:`flows.agent_runs`), so each agent's work is a run Prefect shows, places on any worker of
the pool (on any machine) and that the daily sync can start again when its machine dies. The
run does the extraction only: the agent's connected sources' steps in dependency order, with
``kind="daily"``, recorded in ``ops.sync_runs`` like every run. The one dbt build and the one
quality gate for what every agent landed are the daily sync's (the parent's), after its agents.

Parameters carry the agent's ``user_id`` (and the source names when the sync was narrowed, and
which attempt this is); the sources read the credentials from ``ops.credentials`` themselves.
The run is named after what it does: ``sync-agent-101-2026-12-07`` (``-attempt-2`` when the daily
sync started it again).

Before anything else the run *claims* itself (:func:`agentsync.liveness.claim`, keyed by its flow
run id) and holds the claim until its process exits: that is how the parent tells a live run
from one whose process is gone, and why a run the parent already gave up as abandoned (then the
parent holds the claim) does nothing when it starts late. Its step outcomes are published as the
table artifact ``sync-agent-<user_id>``, which is how the parent, on another machine, reads them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from agentsync import agents, liveness
from agentsync.contracts import StepSpec
from agentsync.errors import ConflictError, InvalidInputError
from agentsync.settings import get_settings
from dlt_pipelines import registry
from flows.runner import StepOutcome, emit, run_steps

log = logging.getLogger(__name__)

DEPLOYMENT = "sync-agent/agent"


def claim_name(flow_run_id: Any) -> str:
    """The claim an agent's flow run holds while its process lives."""
    return f"flow-run:{flow_run_id}"


def artifact_key(user_id: int) -> str:
    """The key of the table artifact an agent's flow run publishes its outcomes under."""
    return f"sync-agent-{int(user_id)}"


def agent_run_name_for(
    user_id: int, sources: list[str] | None = None, attempt: int = 1, day: datetime | None = None
) -> str:
    """``sync-agent-101-2026-12-07`` (``-rezen`` when narrowed, ``-attempt-2`` when repeated)."""
    day = day or datetime.now(ZoneInfo(get_settings().timezone))
    name = f"sync-agent-{int(user_id)}-{day:%Y-%m-%d}"
    if sources:
        name += "-" + "-".join(sources)
    if attempt > 1:
        name += f"-attempt-{attempt}"
    return name


def agent_run_name() -> str:
    """The flow run's name: the one the daily sync gave it (which carries the daily sync's
    day), else one from its parameters (see :func:`agent_run_name_for`)."""
    params = dict(flow_run.parameters or {})
    given = flow_run.name or ""
    if given.startswith(f"sync-agent-{int(params['user_id'])}-"):
        return given
    return agent_run_name_for(
        params["user_id"], params.get("sources"), int(params.get("attempt") or 1)
    )


def extract_agent(
    user_id: int, steps: list[StepSpec], connected: list[str], flow_run_id: str | None
) -> list[StepOutcome]:
    """One agent's daily extraction: its connected sources' steps in dependency order (never
    raises for a step's failure; each is an outcome and ``ops.sync_runs`` rows)."""
    emit(event="sync_agent_started", user_id=user_id)
    wanted = set(connected) & {s.source for s in steps}
    outcomes = run_steps(
        user_id, [s for s in steps if s.source in wanted], set(connected), "daily", flow_run_id
    )
    emit(
        event="sync_agent_finished",
        user_id=user_id,
        failed=sum(o.status == "failed" for o in outcomes),
    )
    return outcomes


def _publish(user_id: int, outcomes: list[dict[str, Any]]) -> None:
    """The outcomes as the table artifact the parent reads (and the UI shows); a failure is
    logged (the parent then reads the run's ``ops.sync_runs`` rows instead)."""
    try:
        from prefect.artifacts import create_table_artifact

        failed = sum(o["status"] == "failed" for o in outcomes)
        create_table_artifact(
            table=outcomes or [{"step": "(none)", "status": "nothing to sync"}],
            key=artifact_key(user_id),
            description=f"agent {user_id} daily extraction: {failed} failed step(s)",
        )
    except Exception:
        log.exception("could not publish the sync-agent-%s artifact", user_id)


@flow(name="sync-agent", flow_run_name=agent_run_name, log_prints=False)
def sync_agent_flow(
    user_id: int, sources: list[str] | None = None, attempt: int = 1
) -> list[dict[str, Any]]:
    """One agent's daily extraction (no dbt, no gate: the daily sync that started it runs those).

    Args:
        user_id: the agent (the only identity; no secret is a parameter).
        sources: only these sources (default: every connected one).
        attempt: which attempt of the daily sync at this agent (1 = the first).

    Returns:
        The step outcomes (``StepOutcome.as_dict()``), also published as the table artifact
        ``sync-agent-<user_id>``.

    Raises:
        ConflictError: the daily sync already gave this run up as abandoned (its claim is
            taken): another run does this agent.
    """
    run_id = flow_run.id
    if run_id is not None and not liveness.claim(claim_name(run_id)):
        raise ConflictError(
            f"agent {user_id}'s flow run {run_id} was given up as abandoned by the daily sync "
            "that started it; another attempt does this agent"
        )
    for s in sources or []:
        if s not in registry.SOURCES:
            raise InvalidInputError(
                f"unknown source {s!r}; expected one of {', '.join(registry.SOURCES)}"
            )
    agent = agents.get_agent(int(user_id))
    steps = registry.all_steps(sources)
    outcomes = [
        o.as_dict() for o in extract_agent(agent.user_id, steps, sorted(agent.integrations), run_id)
    ]
    failed = sum(o["status"] == "failed" for o in outcomes)
    get_run_logger().info(
        "agent %s daily extraction: %d step(s), %d failed", user_id, len(outcomes), failed
    )
    _publish(agent.user_id, outcomes)
    # The claim is held until the process exits: released here, a parent that read this run as
    # Running a moment ago could take it before the Completed state is in and start it again.
    return outcomes
