"""Running the sources' steps for one agent, in dependency order, as Prefect tasks.

Used by both flows. Rules:

- a step of an integration the agent has not connected is ``skipped`` ("not connected");
- a step whose dependency failed or was skipped is ``skipped`` with the reason; a dependency that
  is not part of this run (its source filtered out, or not built yet) does not block it;
- a failing step is recorded as ``failed`` with its error and the run goes on with the steps that
  do not depend on it;
- every step that ran leaves ``ops.sync_runs`` rows: the sources write one per entity through
  ``record_sync``; a step that failed before reaching it gets one row with entity ``*``, and a
  step skipped for a failed dependency gets a ``skipped`` ``*`` row, so the gap is visible.

Listeners (``subscribe``) receive every step event; the demo draws its progress display from them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import text

from agentsync import console, db, jobs, progress
from agentsync.contracts import EntityResult, RunKind, StepSpec
from agentsync.errors import IntegrationError
from dlt_pipelines.run import integration_error_behind

log = logging.getLogger(__name__)
console.apply()  # Prefect's console handlers exist now: from the CLI they print no tracebacks
Listener = Callable[[dict[str, Any]], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(event)`` for every step event in this process; returns an unsubscribe."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def emit(**event: Any) -> None:
    """Send an event (``kind``, ``user_id``, ``step``, ``status``, ...) to the listeners."""
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # a display problem must never break a run
            log.exception("step event listener failed")


@dataclass
class StepOutcome:
    """What happened to one step for one agent."""

    key: str
    source: str
    status: str  # done | failed | skipped
    rows: int | None = None
    error: str | None = None
    seconds: float = 0.0
    entities: list[EntityResult] = field(default_factory=list)
    detail: str | None = None  # a summary that is not an error (e.g. where Data Docs are)
    unit: str = "rows"  # what ``rows`` counts: rows loaded, dbt models built, problems, messages
    vendor_error: bool = False  # failed because a vendor API refused or failed (IntegrationError)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as flow results report it (JSON-safe, seconds rounded)."""
        return {
            "step": self.key,
            "source": self.source,
            "status": self.status,
            "rows": self.rows,
            "unit": self.unit,
            "error": self.error,
            "vendor_error": self.vendor_error,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run's logger inside a flow or task run (its lines reach the run's log in the
    UI), else this module's logger."""
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return log
    from prefect import get_run_logger

    return get_run_logger()


def step_line(outcome: StepOutcome, user_id: int | None = None) -> str:
    """One line for a finished step: ``agent 101 fub.people done: 1,234 rows in 12.3 s``."""
    who = f"agent {user_id} " if user_id is not None else ""
    counted = f"{outcome.rows:,} {outcome.unit} in " if outcome.rows is not None else ""
    line = f"{who}{outcome.key} {outcome.status}: {counted}{outcome.seconds:.1f} s"
    if outcome.error:
        line += f" — {outcome.error}"
    elif outcome.detail:
        line += f" — {outcome.detail}"
    return line


def report_step(outcome: StepOutcome, user_id: int | None = None) -> None:
    """Tell the listeners (``step_finished``) and the run's log that a step finished.

    One line per step with its rows and seconds; a failed step is a warning.
    """
    emit(
        event="step_finished",
        user_id=user_id,
        step=outcome.key,
        source=outcome.source,
        status=outcome.status,
        rows=outcome.rows,
        unit=outcome.unit,
        seconds=outcome.seconds,
        error=outcome.error,
    )
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    run_logger().log(level, "%s", step_line(outcome, user_id))


@dataclass(frozen=True)
class StepRecorder:
    """Where a run records its steps' starts and ends, the one way every flow does it.

    ``started`` marks the step running in the onboarding job (when the run has one: ``job_id``)
    and tells the listeners (the progress display); ``finished`` records the step's status, rows
    and error in the job, tells the listeners and writes the run's log line
    (:func:`report_step`). The per-entity ``ops.sync_runs`` rows are the sources' own
    (``record_sync``); a step that failed or was skipped before reaching them gets its gap rows
    from :func:`run_steps`.
    """

    user_id: int | None = None
    job_id: int | None = None

    def started(self, key: str, source: str) -> None:
        if self.job_id is not None:
            jobs.step_running(self.job_id, key)
        emit(event="step_started", user_id=self.user_id, step=key, source=source)

    def finished(self, outcome: StepOutcome) -> None:
        if self.job_id is not None:
            jobs.step_finished(
                self.job_id, outcome.key, outcome.status, outcome.rows, outcome.error
            )
        report_step(outcome, self.user_id)


def error_text(err: BaseException) -> str:
    """An exception as one line for the ops tables (type and message, bounded)."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {msg}"[:2000] if msg else type(err).__name__


@task(cache_policy=NO_CACHE, retries=0)
def _run_step(spec: StepSpec, user_id: int, kind: RunKind, flow_run_id: str | None) -> list[Any]:
    return list(spec.run(user_id, kind, flow_run_id))


def db_now() -> Any:
    """The database's clock now (what ``ops.sync_runs`` times are compared with)."""
    with db.begin() as conn:
        return conn.execute(text("select clock_timestamp()")).scalar_one()


_db_now = db_now


def _record_gap(
    kind: RunKind,
    user_id: int,
    source: str,
    flow_run_id: str | None,
    since: Any,
    status: str,
    error: str,
) -> None:
    """Add a ``*`` sync-run row when the step recorded none since ``since``."""
    with db.begin() as conn:
        recorded = conn.execute(
            text(
                "select count(*) from ops.sync_runs where user_id = :u and source = :s "
                "and kind = :k and started_at >= :since"
            ),
            {"u": user_id, "s": source, "k": kind, "since": since},
        ).scalar_one()
        if recorded:
            return
        conn.execute(
            text(
                """
                insert into ops.sync_runs
                    (kind, flow_run_id, user_id, source, entity, started_at, ended_at, status,
                     rows, error)
                values (:k, :f, :u, :s, '*', :since, clock_timestamp(), :st, 0, :e)
                """
            ),
            {
                "k": kind,
                "f": flow_run_id,
                "u": user_id,
                "s": source,
                "since": since,
                "st": status,
                "e": error,
            },
        )


def record_gap(
    kind: RunKind, user_id: int, source: str, flow_run_id: str | None, since: Any, error: str
) -> None:
    """A failed ``*`` sync-run row for a source of the agent that recorded nothing since
    ``since`` (a run that broke before any of its steps, e.g. an agent's flow run that failed)."""
    _record_gap(kind, user_id, source, flow_run_id, since, "failed", error)


def run_steps(
    user_id: int,
    steps: list[StepSpec],
    connected: set[str],
    kind: RunKind,
    flow_run_id: str | None,
    recorder: StepRecorder | None = None,
) -> list[StepOutcome]:
    """Run ``steps`` for one agent in order; never raises for a step's failure.

    Args:
        user_id: the agent.
        steps: the steps in dependency order (``dlt_pipelines.registry.all_steps``).
        connected: integrations the agent has credentials for.
        kind: ``onboarding`` or ``daily`` (what ``ops.sync_runs.kind`` says).
        flow_run_id: the Prefect flow run, passed on to the sources.
        recorder: records each step's start and end (default: events and log lines for
            ``user_id``, no job); an onboarding passes its job's.

    Returns:
        One outcome per step, in order.
    """
    recorder = recorder or StepRecorder(user_id)
    planned = {s.key for s in steps}
    outcomes: dict[str, StepOutcome] = {}
    ordered: list[StepOutcome] = []
    for spec in steps:
        reason = None
        if spec.source not in connected:
            reason = f"agent {user_id} has not connected {spec.source}"
        else:
            missing = [d for d in spec.depends_on if d in planned and d not in outcomes]
            blocked = [d for d in spec.depends_on if d in outcomes and outcomes[d].status != "done"]
            if missing:
                reason = f"dependency {', '.join(missing)} comes later in the plan"
            elif blocked:
                reason = "dependency " + ", ".join(f"{d} {outcomes[d].status}" for d in blocked)
        if reason is not None:
            outcome = StepOutcome(spec.key, spec.source, "skipped", error=reason)
            if spec.source in connected:
                _record_gap(kind, user_id, spec.source, flow_run_id, _db_now(), "skipped", reason)
        else:
            recorder.started(spec.key, spec.source)
            since = _db_now()
            started = time.monotonic()
            try:
                with progress.step(user_id, spec.key):
                    results = _run_step.with_options(name=spec.key)(
                        spec, user_id, kind, flow_run_id
                    )
                rows = sum(int(getattr(r, "rows", 0) or 0) for r in results)
                outcome = StepOutcome(
                    spec.key,
                    spec.source,
                    "done",
                    rows,
                    None,
                    time.monotonic() - started,
                    [r for r in results if isinstance(r, EntityResult)],
                )
            except Exception as err:
                message = error_text(err)
                outcome = StepOutcome(
                    spec.key,
                    spec.source,
                    "failed",
                    None,
                    message,
                    time.monotonic() - started,
                    vendor_error=isinstance(integration_error_behind(err), IntegrationError),
                )
                _record_gap(kind, user_id, spec.source, flow_run_id, since, "failed", message)
        outcomes[spec.key] = outcome
        ordered.append(outcome)
        # every step, failed ones as warnings, is visible in the run's log, not only in ops tables
        recorder.finished(outcome)
    return ordered
