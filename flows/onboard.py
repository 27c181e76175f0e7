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
   fails the Prefect run;
5. once the job is final (Complete, Partial, or Error before the exception is re-raised) and the
   lock and slot are released: the health check and the alerts it owes, the gate's failing
   checks for this agent included (:func:`flows.after_load.health_and_alerts`). They are not job steps — health is about the whole
   system and runs after the job's status is settled, so a webhook outage or another agent's
   problem never turns this agent's onboarding Partial. Their outcomes are in the result's
   ``post`` list, emitted as ``step_finished`` events and logged when they fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from agentsync import agents, jobs
from agentsync.locks import agent_lock, onboarding_slot
from dlt_pipelines import registry
from flows.after_load import dbt_build, health_and_alerts, quality_steps
from flows.reporting import gate_section, gate_summary, publish, steps_table
from flows.runner import StepOutcome, StepRecorder, emit, error_text, run_steps

POST_STEPS = (("dbt.build", "dbt"), ("quality.gate", "quality"))


def _health_and_alerts(user_id: int, gate: StepOutcome | None) -> list[dict[str, Any]]:
    """The end of the flow: health and alerts (never raises), emitted and logged."""
    post = health_and_alerts(gate)
    recorder = StepRecorder(user_id)  # not job steps: the job is final by now
    for o in post:
        recorder.finished(o)
    return [o.as_dict() for o in post]


@dataclass
class _Progress:
    """How far an onboarding got: its job started (``job_id``), the gate step's outcome."""

    job_id: int | None = None
    gate: StepOutcome | None = None


def run_onboarding(user_id: int, flow_run_id: str | None = None) -> dict[str, Any]:
    """The onboarding itself (the flow's body; callable without Prefect for a one-off check).

    Health and alerts run once the job is final, after the agent lock and the onboarding slot
    are released (a slow webhook never holds a slot), also when the run ends in Error.

    Returns:
        ``{"user_id", "job_id", "status", "steps": [...], "post": [...]}`` (``post``: the health
        and alert outcomes); status ``Complete`` when the job was already complete and nothing
        ran (``"ran": False``, no health check).
    """
    progress = _Progress()
    try:
        result = _onboard_locked(user_id, flow_run_id, progress)
    except Exception:  # not on an interrupt or a cancellation (BaseException): stop at once
        if progress.job_id is not None:  # the job ran and is now Error
            _health_and_alerts(user_id, progress.gate)
        raise
    if result["ran"]:
        result["post"] = _health_and_alerts(user_id, progress.gate)
        result["gate"] = gate_summary(progress.gate)
    return result


def _onboard_locked(user_id: int, flow_run_id: str | None, progress: _Progress) -> dict[str, Any]:
    """Everything under the agent's lock and an onboarding slot; ``progress`` says how far."""
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
        job_id = progress.job_id = started.job_id
        emit(event="job_started", user_id=user_id, job_id=job_id, steps=[k for k, _ in layout])
        recorder = StepRecorder(user_id, job_id)
        try:
            connected = set(agents.connected_integrations(user_id))
            outcomes = run_steps(
                user_id,
                steps,
                connected,
                "onboarding",
                flow_run_id,
                recorder,
            )
            loaded = {o.source for o in outcomes if o.status == "done"}
            recorder.started("dbt.build", "dbt")
            landed = any(o.rows for o in outcomes if o.status == "done")
            build = dbt_build(loaded, landed)
            recorder.finished(build)
            recorder.started("quality.gate", "quality")
            if build.status == "failed":
                gate = StepOutcome(
                    "quality.gate",
                    "quality",
                    "skipped",
                    error="dbt.build failed; the gate would check stale marts",
                )
            else:
                gate = quality_steps([user_id], "onboarding")[0]
            progress.gate = gate
            recorder.finished(gate)
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
            # the source steps that failed, and whether a vendor API refused or failed them
            "failed_loads": [
                {"step": o.key, "vendor_error": o.vendor_error}
                for o in outcomes
                if o.status == "failed"
            ],
        }


@flow(name="onboard-user", flow_run_name="onboard-{user_id}", log_prints=False)
def onboard_user(user_id: int) -> dict[str, Any]:
    """Onboard one agent: every connected source's history, the dbt build, the quality gate.

    Args:
        user_id: the agent's platform id (the only parameter; no secrets in flow parameters).

    Returns:
        The job's final status and its steps, and the health and alert outcomes (``post``).
    """
    result = run_onboarding(int(user_id), flow_run.id)
    get_run_logger().info("agent %s onboarding %s", user_id, result["status"])
    _publish(result)
    return result


def _publish(result: dict[str, Any]) -> None:
    """The run's artifact: the job's steps, then health/alerts, then the gate's verdict."""
    user_id = result["user_id"]
    lines = [f"Job {result['job_id']}: **{result['status']}**"]
    if not result["ran"]:
        lines.append(f"\nNothing ran: {result['message'] or 'the job was already final'}.")
    lines += ["", *steps_table([*result["steps"], *result.get("post", [])])]
    lines += gate_section(result.get("gate"))
    publish(
        f"onboard-{user_id}",
        f"Onboarding of agent {user_id}: {result['status']}",
        lines,
        f"agent {user_id} onboarding {result['status']}",
    )
