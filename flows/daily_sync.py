"""Flow ``daily_sync(user_ids=None, sources=None)``: incremental loads for every connected agent.

For each agent (all agents with at least one credential, or the ones named) the connected
sources' steps run in dependency order with ``kind="daily"`` (dlt resumes from its stored
cursors), then one dbt build of the affected models, then the quality gate, health and alerts.
Every (agent, source, entity) run lands in ``ops.sync_runs`` (the sources record each entity; a
step that failed before recording gets a ``*`` row; see :mod:`flows.runner`).

Agents run concurrently, at most ``AGENTSYNC_MAX_CONCURRENT_SYNCS`` (default 4) at a time: each
agent's extraction is its own Prefect task run (``sync-agent-<user_id>``) on a thread pool, so
the Prefect UI shows every agent's work and outcome separately, and a failing or slow agent never
blocks the others. The work is bound by each vendor account's rate limit, not by this machine's
CPUs, and different agents have different accounts: concurrency is what makes a fleet's daily
sync cost the slowest agents rather than the sum of all of them. Requests for one account stay
paced together (:mod:`dlt_pipelines.http`: one rate gate per account in the process, fed by the
vendor's own remaining-budget headers), and one agent's pipelines are never run twice at once
(the pipeline locks of :mod:`agentsync.locks`).

Deployed (``daily-sync/daily`` registers ``via_deployment=True``), each agent's extraction is a
flow run of its own instead: the ``sync-agent/agent`` deployment, started per agent on the work
pool (:mod:`flows.agent_runs`), so any worker on any machine may run it, Prefect shows and keeps
it, and an agent whose machine died is started again. The same setting bounds how many are in
flight. Everything else is the same: one dbt build and one gate for what landed, every agent's
outcome in the result, the artifact and ``ops.sync_runs``. Without that parameter (``agentsync
sync``, the demo, Prefect's temporary API) or without a registered ``sync-agent/agent``
deployment (a warning says so) the agents run on threads in this process.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from agentsync import agents, recovery
from agentsync.contracts import StepSpec
from agentsync.errors import InvalidInputError, NotFoundError
from agentsync.settings import get_settings
from dlt_pipelines import registry
from flows.after_load import dbt_build, quality_steps
from flows.agent_runs import AgentRuns, NoAgentDeployment, sync_agents_on_pool
from flows.prefect_env import start_api
from flows.reporting import (
    agent_runs_section,
    daily_run_name,
    gate_section,
    gate_summary,
    publish,
    steps_table,
)
from flows.runner import StepOutcome, StepRecorder, emit, error_text, run_logger
from flows.sync_agent import extract_agent


def chosen_agents(user_ids: list[int] | None, sources: list[str] | None) -> list[agents.Agent]:
    """The agents a daily sync of ``user_ids`` and ``sources`` covers, checked before any work.

    Raises:
        InvalidInputError: a source that does not exist (exit 2).
        NotFoundError: an agent that does not exist (exit 4).
    """
    for s in sources or []:
        if s not in registry.SOURCES:
            raise InvalidInputError(
                f"unknown source {s!r}; expected one of {', '.join(registry.SOURCES)}"
            )
    known = {a.user_id: a for a in agents.list_agents()}
    if user_ids:
        missing = [u for u in user_ids if u not in known]
        if missing:
            raise NotFoundError(f"no agent with user_id {', '.join(map(str, missing))}")
        return [known[u] for u in user_ids]
    return [a for a in known.values() if a.integrations]


def _agent_task_name(parameters: dict[str, Any]) -> str:
    return f"sync-agent-{parameters['user_id']}"


@task(cache_policy=NO_CACHE, retries=0, task_run_name=_agent_task_name)
def sync_agent(
    user_id: int, steps: list[StepSpec], connected: list[str], flow_run_id: str | None
) -> list[StepOutcome]:
    """One agent's daily extraction: its connected sources' steps in dependency order."""
    return extract_agent(user_id, steps, connected, flow_run_id)


def sync_agents(
    chosen: list[agents.Agent],
    steps: list[StepSpec],
    flow_run_id: str | None,
    concurrency: int | None = None,
) -> dict[int, list[StepOutcome]]:
    """Every chosen agent's extraction, at most ``concurrency`` at a time; never raises for one
    agent's failure (an agent whose task itself failed gets one failed ``sync`` outcome)."""
    width = _width(concurrency, len(chosen))
    per_agent: dict[int, list[StepOutcome]] = {}
    if width > 1:
        start_api()  # lazily imported libraries loaded before the threads import them together
    with ThreadPoolTaskRunner(max_workers=width) as runner:
        futures = {
            a.user_id: runner.submit(
                sync_agent,
                {
                    "user_id": a.user_id,
                    "steps": steps,
                    "connected": sorted(a.integrations),
                    "flow_run_id": flow_run_id,
                },
            )
            for a in chosen
        }
        for user_id, future in futures.items():
            try:
                per_agent[user_id] = future.result()
            except Exception as err:  # the agent's task broke outside its steps
                per_agent[user_id] = [StepOutcome("sync", "*", "failed", error=error_text(err))]
    return per_agent


def _width(concurrency: int | None, agents_n: int) -> int:
    return max(1, min(concurrency or get_settings().max_concurrent_syncs, agents_n or 1))


def _extract(
    chosen: list[agents.Agent],
    sources: list[str] | None,
    steps: list[StepSpec],
    flow_run_id: str | None,
    concurrency: int | None,
    via_deployment: bool,
) -> tuple[dict[int, list[StepOutcome]], AgentRuns | None]:
    """Every chosen agent's extraction: on the work pool (``via_deployment``, when the
    ``sync-agent/agent`` deployment exists) or on this process's threads."""
    if not via_deployment:
        return sync_agents(chosen, steps, flow_run_id, concurrency), None
    built = {s.source for s in steps}
    with_work = [a for a in chosen if set(a.integrations) & built]
    try:
        pool = sync_agents_on_pool(
            with_work, sources, _width(concurrency, len(with_work)) if with_work else 1
        )
    except NoAgentDeployment as err:
        run_logger().warning(
            "%s: the agents run in this process instead (run `agentsync deploy` to register it)",
            err,
        )
        return sync_agents(chosen, steps, flow_run_id, concurrency), None
    per_agent = {a.user_id: pool.outcomes.get(a.user_id, []) for a in chosen}
    return per_agent, pool


def run_daily_sync(
    user_ids: list[int] | None = None,
    sources: list[str] | None = None,
    flow_run_id: str | None = None,
    concurrency: int | None = None,
    via_deployment: bool = False,
) -> dict[str, Any]:
    """The daily sync itself (the flow's body).

    Args:
        user_ids: agents to sync (None: every agent with a credential).
        sources: sources to sync (None: all built sources).
        flow_run_id: the Prefect flow run (recorded in ``ops.sync_runs``).
        concurrency: agents extracted at once (default ``AGENTSYNC_MAX_CONCURRENT_SYNCS``).
        via_deployment: each agent as a ``sync-agent/agent`` flow run on the work pool
            (falls back to threads, with a warning, when that deployment is not registered).

    Returns:
        ``{"agents": {user_id: [step outcomes]}, "post": [dbt/quality outcomes], "failed": n,
        "gate": ..., "flow_runs": {user_id: [each attempt's flow run]} (on the work pool)}``.
    """
    chosen = chosen_agents(user_ids, sources)
    steps = registry.all_steps(sources)
    recovered = recovery.recover_dead_runs()  # runs a killed earlier sync left "running"
    if recovered.sync_runs:
        emit(event="interrupted_runs_recovered", sync_runs=recovered.sync_runs)
    per_agent, pool = _extract(chosen, sources, steps, flow_run_id, concurrency, via_deployment)
    loaded = {o.source for outs in per_agent.values() for o in outs if o.status == "done"}
    recorder = StepRecorder()  # the dbt build and the checks cover every chosen agent
    landed = any(o.rows for outs in per_agent.values() for o in outs if o.status == "done")
    build = dbt_build(loaded, landed)
    recorder.finished(build)
    post = [build, *quality_steps([a.user_id for a in chosen] or None, "daily")]
    for o in post[1:]:
        recorder.finished(o)
    failed = sum(o.status == "failed" for outs in per_agent.values() for o in outs)
    failed += sum(o.status == "failed" for o in post)
    result = {
        "agents": {u: [o.as_dict() for o in outs] for u, outs in per_agent.items()},
        "post": [o.as_dict() for o in post],
        "failed": failed,
        "gate": next((gate_summary(o) for o in post if o.key == "quality.gate"), None),
    }
    if pool is not None:
        result["flow_runs"] = pool.runs
    return result


@flow(name="daily-sync", flow_run_name=daily_run_name, log_prints=False)
def daily_sync(
    user_ids: list[int] | None = None,
    sources: list[str] | None = None,
    concurrency: int | None = None,
    via_deployment: bool = False,
) -> dict[str, Any]:
    """Incremental loads for every connected agent, one dbt build, quality gate, health, alerts.

    Args:
        user_ids: only these agents (default: every agent with a credential).
        sources: only these sources (default: all).
        concurrency: agents extracted at once (default ``AGENTSYNC_MAX_CONCURRENT_SYNCS``).
        via_deployment: each agent as a ``sync-agent/agent`` flow run on the work pool, on any
            worker (the deployment ``daily-sync/daily`` sets it); default: threads in this run.

    Returns:
        Per-agent step outcomes, the post-load steps and the number of failed steps (and, on the
        work pool, each agent's flow runs).
    """
    result = run_daily_sync(user_ids, sources, flow_run.id, concurrency, via_deployment)
    get_run_logger().info(
        "daily sync: %d agent(s), %d failed step(s)", len(result["agents"]), result["failed"]
    )
    steps = [{"agent": u, **o} for u, outs in result["agents"].items() for o in outs]
    steps += [{"agent": "all", **o} for o in result["post"]]
    verdict = f"{result['failed']} failed step(s)" if result["failed"] else "no failed step"
    publish(
        "daily-sync",
        f"Daily sync: {len(result['agents'])} agent(s), {verdict}",
        [
            *steps_table(steps, agent_column=True),
            *agent_runs_section(result.get("flow_runs")),
            *gate_section(result.get("gate")),
        ],
        f"daily sync of {len(result['agents'])} agent(s): {verdict}",
    )
    return result
