"""What the flows do after loading: the dbt build of the affected models, then the quality checks.

Either may have nothing to do (no new loads, a source without dbt models); then the step is
``skipped`` with the reason, never reported as passed.

Every flow ends with :func:`health_and_alerts` (health check, then the alerts it owes, the gate's
failures included when the flow ran the gate); the flows record each outcome with
:class:`flows.runner.StepRecorder`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentsync import pending_loads
from agentsync.locks import dbt_lock
from agentsync.quality.alerts import evaluate_and_notify
from agentsync.quality.gate import GateResult, run_quality_gate
from agentsync.quality.gx import FailedCheck
from agentsync.quality.health import check_health
from agentsync.transform import run_dbt
from flows.runner import StepOutcome, error_text

log = logging.getLogger(__name__)


@dataclass
class GateOutcome(StepOutcome):
    """The ``quality.gate`` step's outcome plus the gate result itself (``GateResult``), which
    the alerts read; ``None`` when the gate did not run."""

    result: Any = None


def _drain_dbt_task_threads(timeout_seconds: float = 120.0) -> None:
    """Wait for prefect-dbt's per-node task threads to report their final states.

    ``PrefectDbtRunner.invoke`` returns while its tracker threads (named ``...(run_task)``) may
    still be sending task-run states; if the process then exits, they hit a stopped temporary API
    and abort the interpreter ("Server process did not start", exit 134 — seen in the demo).
    """
    deadline = time.monotonic() + timeout_seconds
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "run_task" in thread.name:
            thread.join(max(0.0, deadline - time.monotonic()))


def dbt_build(sources: Iterable[str], landed: bool = False) -> StepOutcome:
    """``dbt build`` of the models downstream of the raw tables that received committed loads
    since the last build (:mod:`agentsync.pending_loads`), whoever made the loads.

    ``sources`` (what this run loaded): a source whose models do not all exist yet is built
    whole (``@staging.<source>``), so its marts exist for the gate. The build runs with ``--indirect-selection cautious``: a test that also reads a model
    outside the selection (e.g. a relationship to another source's mart) waits for a build that
    has it. The database-wide dbt lock serialises builds from concurrent runs (another process or
    machine); ``AGENTSYNC_DBT_TASK_PER_NODE`` makes each node a Prefect task run.

    ``landed``: this run landed rows. When nothing is left to build, the step is then ``done``
    (its loads were built by a concurrent run's build, which took every pending load, or wrote
    nothing dbt reads: the marts hold them either way); without rows of its own it is
    ``skipped``.
    """
    sources = sorted(set(sources))
    started = time.monotonic()
    try:
        with dbt_lock():
            todo = pending_loads.plan(sources)
            if not todo.select:
                pending_loads.mark_built(todo.loads)  # they wrote nothing dbt reads
                if landed:
                    return StepOutcome(
                        "dbt.build",
                        "dbt",
                        "done",
                        rows=0,
                        unit="models",
                        detail="nothing left to build: this run's loads were already built "
                        "(by a concurrent run's build) or touch no table dbt reads",
                        seconds=time.monotonic() - started,
                    )
                return StepOutcome(
                    "dbt.build",
                    "dbt",
                    "skipped",
                    error="no new rows in any table dbt reads",
                    seconds=time.monotonic() - started,
                )
            log.info(
                "dbt.build: %d new load(s) touched %s; selecting %s",
                len(todo.loads),
                ", ".join(f"{s}.{t}" for s, t in todo.tables) or "no table",
                " ".join(todo.select),
            )
            result = run_dbt(
                ["build", "--select", *todo.select, "--indirect-selection", "cautious"],
                raise_on_failure=False,
            )
            if result.success:
                pending_loads.mark_built(todo.loads)
    except Exception as err:
        return StepOutcome(
            "dbt.build", "dbt", "failed", error=error_text(err), seconds=time.monotonic() - started
        )
    _drain_dbt_task_threads()
    seconds = time.monotonic() - started
    models = sum(1 for r in result.results if str(r.get("node", "")).startswith("model."))
    if result.success:
        return StepOutcome("dbt.build", "dbt", "done", rows=models, seconds=seconds, unit="models")
    detail = "; ".join(result.failures[:5]) or "dbt build failed (see dbt logs)"
    return StepOutcome(
        "dbt.build", "dbt", "failed", rows=models, error=detail, seconds=seconds, unit="models"
    )


def quality_gate(user_ids: list[int] | None) -> StepOutcome:
    """The quality gate (GX checkpoint) for these agents; dbt's tests already ran in the build.

    Returns:
        A :class:`GateOutcome` (its ``result`` is what :func:`health_and_alerts` alerts on).
    """
    started = time.monotonic()
    try:
        result = run_quality_gate(user_ids, dbt_args=None)
    except Exception as err:
        line = error_text(err)
        # the gate could not run: that is one (agent-independent) failing check to alert on
        broken = GateResult(
            success=False,
            failures=[line],
            checks=[FailedCheck("gate run", [], f"gate could not run: {line}")],
            user_ids=sorted(set(user_ids)) if user_ids else None,
        )
        return GateOutcome(
            "quality.gate",
            "quality",
            "failed",
            error=line,
            seconds=time.monotonic() - started,
            result=broken,
        )
    seconds = time.monotonic() - started
    if result.success:
        return GateOutcome(
            "quality.gate",
            "quality",
            "done",
            seconds=seconds,
            detail=result.data_docs_path,
            result=result,
        )
    detail = "; ".join(result.failures[:5])
    if len(result.failures) > 5:
        detail += f"; and {len(result.failures) - 5} more"
    return GateOutcome(
        "quality.gate",
        "quality",
        "failed",
        error=detail[:2000],
        seconds=seconds,
        detail=result.data_docs_path,
        result=result,
    )


def health_and_alerts(gate: StepOutcome | None = None) -> list[StepOutcome]:
    """Health (backlog, sync age, errors, stuck jobs) and the alerts it owes; every flow's end.

    Never raises: a failure of either is its step's ``failed`` outcome.

    Args:
        gate: the ``quality.gate`` outcome of this flow run, if it ran one; its failing checks
            open alerts and its passing ones clear them (for the agents it covered). A gate that
            was skipped, or None, leaves gate alerts as they are.

    Returns:
        ``quality.health`` and ``quality.alerts`` outcomes.
    """
    gate_result = getattr(gate, "result", None)
    started = time.monotonic()
    try:
        report = check_health()
    except Exception as err:
        return [
            StepOutcome(
                "quality.health",
                "quality",
                "failed",
                error=error_text(err),
                seconds=time.monotonic() - started,
            ),
            StepOutcome("quality.alerts", "quality", "skipped", error="health check failed"),
        ]
    problems = report.problems
    health = StepOutcome(
        "quality.health",
        "quality",
        "done",
        rows=len(problems),
        unit="problems",
        seconds=time.monotonic() - started,
        detail=f"{report.as_dict()['status']}: {len(problems)} problem(s)"
        + (" — " + "; ".join(p.message for p in problems[:3]) if problems else ""),
    )
    started = time.monotonic()
    try:
        events = evaluate_and_notify(report, gate=gate_result)
    except Exception as err:
        return [
            health,
            StepOutcome(
                "quality.alerts",
                "quality",
                "failed",
                error=error_text(err),
                seconds=time.monotonic() - started,
            ),
        ]
    undelivered = [e for e in events if getattr(e, "error", None)]
    alerts = StepOutcome(
        "quality.alerts",
        "quality",
        "failed" if undelivered else "done",
        rows=len(events),
        unit="alert messages",
        seconds=time.monotonic() - started,
        error=f"{len(undelivered)} alert(s) not delivered" if undelivered else None,
        detail=f"{len(events)} alert message(s)",
    )
    return [health, alerts]


def quality_steps(user_ids: list[int] | None, kind: str) -> list[StepOutcome]:
    """The quality gate, then (daily sync) health and alerts; one outcome for each.

    Args:
        user_ids: the agents the run touched (None: all).
        kind: ``onboarding`` runs the gate for the agent (the onboarding flow runs health and
            alerts itself once its job is final); ``daily`` also checks health and sends the
            alerts it owes, the gate's failures included.
    """
    gate = quality_gate(user_ids)
    out = [gate]
    if kind == "daily":
        out += health_and_alerts(gate)
    return out
