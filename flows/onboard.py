"""Flow ``onboard_user(user_id)``: one agent's full history, then dbt, then the quality gate.

The only parameter is ``user_id`` (credentials are read by the sources from ``ops.credentials``,
never passed through Prefect). Order of work:

1. take the agent's onboarding lock (a second run for the same agent is refused) and one of
   ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS`` slots (waits for a free one) — both are PostgreSQL
   advisory locks, so they hold across processes and machines and vanish with a killed process;
2. create the job if there is none (a Partial/Error job is re-queued), move it New → Started and
   lay out its steps: every source step in dependency order, ``dbt.build``, ``quality.gate``;
3. run the source steps (``flows.runner``), the dbt build of the affected models, the gate;
4. end the job Complete (no failed step) or Partial; an exception outside a step ends it Error and
   fails the Prefect run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from agentsync import agents, jobs
from dlt_pipelines import registry
from flows.locks import agent_lock, onboarding_slot
from flows.post import dbt_build, quality_steps
from flows.runner import StepOutcome, emit, error_text, run_steps

POST_STEPS = (("dbt.build", "dbt"), ("quality.gate", "quality"))


def _record(job_id: int, outcome: StepOutcome) -> None:
    jobs.step_finished(job_id, outcome.key, outcome.status, outcome.rows, outcome.error)


def run_onboarding(user_id: int, flow_run_id: str | None = None) -> dict[str, Any]:
    """The onboarding itself (the flow's body; callable without Prefect for a one-off check).

    Returns:
        ``{"user_id", "job_id", "status", "steps": [...]}``; status ``Complete`` when the job was
        already complete and nothing ran (``"ran": False``).
    """
    with agent_lock(user_id), onboarding_slot():
        job = jobs.create_job(user_id)
        if job.status == "Complete":
            return {
                "user_id": user_id,
                "job_id": job.job_id,
                "status": job.status,
                "ran": False,
                "message": job.message,
                "steps": [s.as_dict() for s in job.steps],
            }
        steps = registry.all_steps()
        layout = [(s.key, s.source) for s in steps] + list(POST_STEPS)
        started = jobs.start_job(user_id, flow_run_id, layout)
        if started is None:  # finished between create and start (cannot happen under the lock)
            job = jobs.get_job(user_id)
            return {
                "user_id": user_id,
                "job_id": job.job_id,
                "status": job.status,
                "ran": False,
                "message": "job is not New",
                "steps": [s.as_dict() for s in job.steps],
            }
        job_id = started.job_id
        emit(event="job_started", user_id=user_id, job_id=job_id, steps=[k for k, _ in layout])
        try:
            connected = set(agents.connected_integrations(user_id))
            outcomes = run_steps(
                user_id,
                steps,
                connected,
                "onboarding",
                flow_run_id,
                on_start=lambda spec: jobs.step_running(job_id, spec.key),
                on_end=lambda o: _record(job_id, o),
            )
            loaded = {o.source for o in outcomes if o.status == "done"}
            jobs.step_running(job_id, "dbt.build")
            build = dbt_build(loaded)
            _record(job_id, build)
            emit(
                event="step_finished",
                user_id=user_id,
                step=build.key,
                source="dbt",
                status=build.status,
                rows=build.rows,
                seconds=build.seconds,
                error=build.error,
            )
            jobs.step_running(job_id, "quality.gate")
            if build.status == "failed":
                gate = StepOutcome(
                    "quality.gate",
                    "quality",
                    "skipped",
                    error="dbt.build failed; the gate would check stale marts",
                )
            else:
                gate = quality_steps([user_id], "onboarding")[0]
            _record(job_id, gate)
            emit(
                event="step_finished",
                user_id=user_id,
                step=gate.key,
                source="quality",
                status=gate.status,
                seconds=gate.seconds,
                error=gate.error,
            )
        except BaseException as err:
            jobs.fail_job(job_id, error_text(err))
            emit(event="job_finished", user_id=user_id, job_id=job_id, status="Error")
            raise
        done = jobs.finish_job(job_id)
        emit(event="job_finished", user_id=user_id, job_id=job_id, status=done.status)
        return {
            "user_id": user_id,
            "job_id": job_id,
            "status": done.status,
            "ran": True,
            "message": done.error or "",
            "steps": [s.as_dict() for s in done.steps],
        }


@flow(name="onboard-user", log_prints=False)
def onboard_user(user_id: int) -> dict[str, Any]:
    """Onboard one agent: every connected source's history, the dbt build, the quality gate.

    Args:
        user_id: the agent's platform id (the only parameter; no secrets in flow parameters).

    Returns:
        The job's final status and its steps.
    """
    result = run_onboarding(int(user_id), flow_run.id)
    get_run_logger().info("agent %s onboarding %s", user_id, result["status"])
    return result
