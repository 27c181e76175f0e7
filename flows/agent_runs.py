"""The deployed daily sync's fan-out: one ``sync-agent`` flow run per agent, on the work pool.

:func:`sync_agents_on_pool` starts the ``sync-agent/agent`` deployment for each agent
(:mod:`flows.sync_agent`), keeps at most ``width`` of them in flight (submitted and not final:
``AGENTSYNC_MAX_CONCURRENT_SYNCS`` across every worker), and waits for each to end. Any worker of
the pool, on any machine, may run any agent; a failing or slow agent holds only its own run.

What the parent does with each agent's run when it ends, or when it stops living:

- **Completed**: its outcomes are read from the table artifact the run published (from its
  ``ops.sync_runs`` rows if the artifact is missing).
- **Failed / Cancelled** (an error outside the steps; step failures are outcomes of a Completed
  run): one failed ``sync`` outcome with the state's message, and a failed ``*`` row in
  ``ops.sync_runs`` for each source the agent would have synced and that recorded nothing.
- **Crashed** (Prefect saw the process die: the worker lived) or **abandoned** (the run is
  Pending or Running but no process holds its claim, :mod:`agentsync.liveness`: its worker and
  its process died with the machine, and nobody will ever tell Prefect): what the dead process
  left ``running`` in ``ops.sync_runs`` is marked failed ``interrupted``
  (:func:`agentsync.recovery.recover_dead_runs`), an abandoned run is set Crashed on the server,
  and the agent is started again as a new flow run (``...-attempt-2``), ahead of agents not
  started yet, up to ``AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS`` times; beyond that its outcome is
  failed, with the reason.

Abandoned is decided from the claim, not from Prefect's state: a Running run whose claim is free
has no process (the run takes its claim first thing, and holds it until its process exits); a
Pending run (a worker took it and has not started it) is judged once it has waited
``AGENTSYNC_AGENT_RUN_START_TIMEOUT_SECONDS``, since it has no claim to look at yet. Either way
the parent *takes* the free claim and keeps it until the fan-out ends (:class:`liveness.Fence`),
so a run judged abandoned that starts after all does nothing, and one agent is never synced by
two runs of the same daily sync.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text

from agentsync import agents, db, liveness, recovery
from agentsync.settings import get_settings
from flows.runner import StepOutcome, db_now, record_gap, run_logger
from flows.sync_agent import DEPLOYMENT, agent_run_name_for, artifact_key, claim_name

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
# A Running run takes its claim in its first statement, a moment after the engine set Running
# (two API calls); a Running run seen this long without its claim taken has no process. Judged
# too early, the cost is one attempt more: the fence keeps the late run from doing the work.
CLAIM_GRACE_SECONDS = 15.0


class NoAgentDeployment(LookupError):
    """The ``sync-agent/agent`` deployment is not registered on the Prefect API."""


@dataclass
class _Attempt:
    user_id: int
    attempt: int
    flow_run_id: UUID
    name: str
    seen: dict[str, float] = field(default_factory=dict)  # state type -> first seen (monotonic)


@dataclass
class AgentRuns:
    """What the fan-out did: each agent's outcomes and the flow runs it took."""

    outcomes: dict[int, list[StepOutcome]] = field(default_factory=dict)
    # per agent: {"flow_run_id", "name", "state", "message"} of every attempt, in order
    runs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def _state_type(run: Any) -> str:
    return run.state.type.value if run.state is not None else "SCHEDULED"


def _outcomes_of(client: Any, flow_run_id: UUID, user_id: int) -> list[StepOutcome] | None:
    """The outcomes a Completed agent run published (None: no artifact)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    for artifact in found:
        if artifact.type != "table" or artifact.key != artifact_key(user_id):
            continue
        rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        return [
            StepOutcome(
                key=r["step"],
                source=r.get("source") or "",
                status=r["status"],
                rows=r.get("rows"),
                error=r.get("error"),
                seconds=float(r.get("seconds") or 0.0),
                detail=r.get("detail"),
                unit=r.get("unit") or "rows",
                vendor_error=bool(r.get("vendor_error")),
            )
            for r in rows
            if r.get("source")  # the "(none)" placeholder of an agent with nothing to sync
        ]
    return None


def _outcomes_from_sync_runs(flow_run_id: UUID) -> list[StepOutcome]:
    """An agent run's outcomes as its ``ops.sync_runs`` rows say (one per entity)."""
    with db.begin() as conn:
        rows = conn.execute(
            text(
                "select source, entity, status, rows, error from ops.sync_runs "
                "where flow_run_id = :f order by run_id"
            ),
            {"f": str(flow_run_id)},
        ).all()
    return [
        StepOutcome(f"{r.source}.{r.entity}", r.source, r.status, r.rows, r.error) for r in rows
    ]


def _abandoned(run: Any, attempt: _Attempt, fence: liveness.Fence, start_timeout: float) -> bool:
    """A Pending/Running run with no living process (its claim is then the fence's)."""
    kind = _state_type(run)
    if kind not in ("PENDING", "RUNNING"):
        return False
    now = time.monotonic()
    since = attempt.seen.setdefault(kind, now)
    wait = start_timeout if kind == "PENDING" else CLAIM_GRACE_SECONDS
    return now - since >= wait and fence.take(claim_name(run.id))


def sync_agents_on_pool(
    chosen: list[agents.Agent],
    sources: list[str] | None,
    width: int,
    poll_seconds: float = POLL_SECONDS,
) -> AgentRuns:
    """Every chosen agent's extraction as a ``sync-agent`` flow run, ``width`` at a time.

    Never raises for one agent's failure. Call it inside the daily sync's flow run (each agent's
    run is linked to it as a subflow).

    Args:
        chosen: the agents (each with at least one wanted source: the caller filters).
        sources: the source names the runs are narrowed to (None: all).
        width: agent runs in flight at most.
        poll_seconds: how often the runs' states are read.

    Raises:
        NoAgentDeployment: ``sync-agent/agent`` is not registered (nothing was started).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    settings = get_settings()
    logger = run_logger()
    out = AgentRuns(runs={a.user_id: [] for a in chosen})
    wanted = {
        a.user_id: sorted(set(a.integrations) & set(sources or a.integrations)) for a in chosen
    }
    todo: deque[tuple[int, int]] = deque((a.user_id, 1) for a in chosen)
    inflight: dict[UUID, _Attempt] = {}
    first_started: dict[int, datetime] = {}
    day = datetime.now(ZoneInfo(settings.timezone))  # every attempt's name carries this day

    def give_up(user_id: int, flow_run_id: UUID, message: str) -> None:
        out.outcomes[user_id] = [StepOutcome("sync", "*", "failed", error=message[:2000])]
        for source in wanted[user_id]:
            record_gap("daily", user_id, source, str(flow_run_id), first_started[user_id], message)

    with get_client(sync_client=True) as client, liveness.Fence() as fence:
        try:
            client.read_deployment_by_name(DEPLOYMENT)
        except ObjectNotFound:
            raise NoAgentDeployment(f"deployment {DEPLOYMENT} is not registered") from None
        while todo or inflight:
            while todo and len(inflight) < width:
                user_id, attempt = todo.popleft()
                first_started.setdefault(user_id, db_now())
                params: dict[str, Any] = {"user_id": user_id, "sources": sources}
                if attempt > 1:
                    params["attempt"] = attempt
                name = agent_run_name_for(user_id, sources, attempt, day)
                run = run_deployment(
                    DEPLOYMENT,
                    parameters=params,
                    flow_run_name=name,
                    timeout=0,
                    as_subflow=True,
                )
                inflight[run.id] = _Attempt(user_id, attempt, run.id, name)
                logger.info("agent %s: started flow run %s", user_id, name)
            time.sleep(poll_seconds)
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(inflight))),
                limit=len(inflight),
            )
            for gone in set(inflight) - {r.id for r in runs}:  # deleted on the server
                at = inflight.pop(gone)
                out.runs[at.user_id].append(
                    {"flow_run_id": str(gone), "name": at.name, "state": "DELETED", "message": ""}
                )
                give_up(at.user_id, gone, f"flow run {at.name} was deleted before it ended")
            for run in runs:
                at = inflight[run.id]
                was = _state_type(run)
                if _abandoned(run, at, fence, settings.agent_run_start_timeout_seconds):
                    # The claim is ours now. A run that ended normally a moment ago set its
                    # final state before its process let the claim go: read it again.
                    run = client.read_flow_run(run.id)
                    if run.state is None or not run.state.is_final():
                        message = (
                            f"abandoned: no process holds the run's claim ({was.lower()} on a "
                            "worker that is gone)"
                        )
                        client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                        kind = "CRASHED"
                    else:
                        kind, message = _state_type(run), run.state.message or ""
                elif run.state is None or not run.state.is_final():
                    continue
                else:
                    kind, message = _state_type(run), run.state.message or ""
                    if kind == "CRASHED" and not fence.take(claim_name(run.id)):
                        continue  # said Crashed, yet its process lives: started again once gone
                del inflight[run.id]
                out.runs[at.user_id].append(
                    {"flow_run_id": str(run.id), "name": at.name, "state": kind, "message": message}
                )
                if kind == "COMPLETED":
                    outcomes = _outcomes_of(client, run.id, at.user_id)
                    if outcomes is None:
                        outcomes = _outcomes_from_sync_runs(run.id)
                    out.outcomes[at.user_id] = outcomes
                    logger.info("agent %s: %s completed", at.user_id, at.name)
                elif kind == "CRASHED":
                    settled = recovery.recover_dead_runs()  # its 'running' rows: interrupted
                    if at.attempt <= settings.max_interrupted_attempts:
                        todo.appendleft((at.user_id, at.attempt + 1))
                        logger.warning(
                            "agent %s: %s crashed (%s); %d dead sync run(s) marked "
                            "interrupted; starting it again (attempt %d)",
                            at.user_id,
                            at.name,
                            message,
                            len(settled.sync_runs),
                            at.attempt + 1,
                        )
                    else:
                        give_up(
                            at.user_id,
                            run.id,
                            f"interrupted: the agent's flow run crashed {at.attempt} time(s) "
                            f"(AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS="
                            f"{settings.max_interrupted_attempts}); last: {message}",
                        )
                        logger.warning(
                            "agent %s: %s crashed; not started again", at.user_id, at.name
                        )
                else:  # FAILED, CANCELLED: broke outside its steps
                    give_up(at.user_id, run.id, f"flow run {at.name} {kind.lower()}: {message}")
                    logger.warning("agent %s: %s %s: %s", at.user_id, at.name, kind, message)
    return out
