"""The dispatcher: picks up onboarding jobs that wait as New and runs them.

Each dispatch first settles runs whose process died (:func:`agentsync.recovery.recover_dead_runs`):
an onboarding killed mid-run is back to New (a bounded number of times) and is run by the same
dispatch, with no person involved.

Other systems create jobs with a plain ``insert into ops.onboarding_jobs (user_id) values (...)``
(status defaults to New). Each dispatch takes the New jobs (oldest first), at most as many as
there are onboarding slots, and runs them:

- in process (``dispatch_new_jobs()``, the CLI and the local loop), together, one thread per
  job — the ``onboard_user`` flow takes the per-agent lock and a slot itself, so at most
  ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS`` run at once and several dispatchers on several
  machines can run at once without running an agent twice;
- or, deployed, by starting the ``onboard-user/onboard`` deployment for each job
  (``via_deployment=True``), so workers of the work pool on any machine do the work.

Deployed on an interval of ``AGENTSYNC_DISPATCH_INTERVAL_SECONDS`` (default 60 s), so a New job
is picked up within one interval. ``run_dispatcher_loop`` does the same without a Prefect server.

Like every flow, the dispatcher flow ends with the health check and the alerts it owes
(:func:`flows.after_load.health_and_alerts`; no gate of its own, so gate alerts stay as they are): a
job stuck in New or Started alerts within one interval.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow, get_run_logger

from agentsync import jobs, recovery
from agentsync.errors import ConflictError
from agentsync.settings import get_settings
from flows.after_load import health_and_alerts
from flows.onboard import onboard_user
from flows.prefect_env import start_api
from flows.reporting import dispatch_run_name, publish, steps_table
from flows.runner import StepRecorder, emit, error_text

ONBOARD_DEPLOYMENT = "onboard-user/onboard"


def dispatch_once(limit: int | None = None, via_deployment: bool = False) -> list[dict[str, Any]]:
    """Run (or hand to the work pool) the New jobs; returns what happened to each.

    Args:
        limit: at most this many jobs (default: ``AGENTSYNC_MAX_CONCURRENT_ONBOARDINGS``).
        via_deployment: start the onboarding deployment per job instead of running in process.
    """
    limit = limit or get_settings().max_concurrent_onboardings
    out: list[dict[str, Any]] = []
    recovered = recovery.recover_dead_runs()  # a job whose process died is New again (or Error)
    if recovered:
        emit(
            event="interrupted_runs_recovered",
            requeued=recovered.requeued,
            gave_up=recovered.gave_up,
            sync_runs=recovered.sync_runs,
        )
    for user_id in recovered.gave_up:
        out.append({"user_id": user_id, "status": "Error", "message": jobs.get_job(user_id).error})
    waiting = jobs.new_job_user_ids(limit)
    if via_deployment:
        from prefect.deployments import run_deployment

        for user_id in waiting:
            run = run_deployment(
                ONBOARD_DEPLOYMENT, parameters={"user_id": user_id}, timeout=0, as_subflow=False
            )
            jobs.mark_dispatched(user_id, str(run.id))
            out.append({"user_id": user_id, "status": "Scheduled", "flow_run_id": str(run.id)})
        return out
    if len(waiting) > 1:
        start_api()  # the temporary API, once, before the threads need it
    with ThreadPoolExecutor(max_workers=max(1, len(waiting))) as pool:
        out.extend(pool.map(_onboard_here, waiting))
    return out


def _onboard_here(user_id: int) -> dict[str, Any]:
    """One onboarding in this process; what happened to it (never raises)."""
    try:
        return {"user_id": user_id, "status": onboard_user(user_id)["status"]}
    except ConflictError as err:  # another dispatcher/worker runs this agent right now
        return {"user_id": user_id, "status": "Started", "message": str(err)}
    except Exception as err:  # recorded as Error on the job; the other jobs go on
        return {"user_id": user_id, "status": "Error", "message": error_text(err)}


@flow(name="dispatch-onboardings", flow_run_name=dispatch_run_name, log_prints=False)
def dispatch_new_jobs(via_deployment: bool = False) -> list[dict[str, Any]]:
    """Pick up onboarding jobs inserted as New and run them (the deployment on an interval).

    Args:
        via_deployment: start ``onboard-user/onboard`` runs on the work pool instead of running
            the onboardings inside this flow run.
    """
    handled = dispatch_once(via_deployment=via_deployment)
    logger = get_run_logger()
    logger.info("dispatched %d onboarding job(s)", len(handled))
    post = health_and_alerts()
    recorder = StepRecorder()
    for o in post:
        recorder.finished(o)
    lines = ["| agent | status | flow run / message |", "| --- | --- | --- |"]
    lines += [
        f"| {h['user_id']} | {h['status']} | {h.get('flow_run_id') or h.get('message') or ''} |"
        for h in handled
    ]
    if not handled:
        lines = ["No onboarding job was waiting as New."]
    lines += ["", *steps_table([o.as_dict() for o in post])]
    publish(
        "dispatch-onboardings",
        f"Dispatch: {len(handled)} onboarding job(s)",
        lines,
        f"{len(handled)} onboarding job(s) dispatched",
    )
    return handled


def run_dispatcher_loop(
    stop: threading.Event, interval_seconds: float | None = None
) -> list[dict[str, Any]]:
    """Dispatch every ``interval_seconds`` until ``stop`` is set (no Prefect server needed).

    Returns:
        Everything dispatched while the loop ran.
    """
    interval = interval_seconds or get_settings().dispatch_interval_seconds
    handled: list[dict[str, Any]] = []
    while not stop.is_set():
        handled.extend(dispatch_once())
        stop.wait(interval)
    return handled
