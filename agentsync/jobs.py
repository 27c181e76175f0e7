"""Onboarding jobs and their steps: the state machine kept in ``ops.onboarding_jobs`` / ``_steps``.

States (from the legacy system, ``docs/vendors/legacy.md`` §1)::

    [no row] --create--> New --start--> Started --+--> Complete  (0 failed steps)
                                                  +--> Partial   (>= 1 failed step)
                                                  +--> Error     (an exception outside a step)

Creating a job is idempotent and safe under concurrency (``user_id`` is unique and creation is an
``insert ... on conflict``): a Complete job is returned as is (``created_new: false``), a New or
Started one is returned, a Partial or Error one is re-queued as New. The legacy system had only
one job ever created, so its daily network sync skipped forever ("No pending onboarding jobs");
here every path that needs a job creates it.

Each step row records started, ended, status (pending, running, done, failed, skipped), rows and
the error (an exception's type and message; sources never put secrets in messages).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text

from agentsync import db, liveness
from agentsync.errors import NotFoundError

JOB_STATES = ("New", "Started", "Complete", "Partial", "Error")
STEP_STATES = ("pending", "running", "done", "failed", "skipped")
FINAL_STATES = ("Complete", "Partial", "Error")


@dataclass
class Step:
    """One row of ``ops.onboarding_steps``."""

    step: str
    source: str
    ordinal: int
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rows: int | None = None
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        """How long the step ran (None until it has started and ended)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"] = _iso(self.started_at)
        out["ended_at"] = _iso(self.ended_at)
        out["seconds"] = self.seconds
        return out


@dataclass
class Job:
    """One row of ``ops.onboarding_jobs`` with its steps."""

    job_id: int
    user_id: int
    status: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    attempts: int
    flow_run_id: str | None
    error: str | None
    created_new: bool = False
    message: str = ""
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("created_at", "updated_at", "started_at", "ended_at"):
            out[key] = _iso(getattr(self, key))
        out["steps"] = [s.as_dict() for s in self.steps]
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_JOB_COLUMNS = (
    "job_id, user_id, status, created_at, updated_at, started_at, ended_at, attempts, "
    "flow_run_id, error"
)


def _job_from_row(row: Any) -> Job:
    return Job(**{k: getattr(row, k) for k in _JOB_COLUMNS.split(", ")})


def _load_steps(conn: Any, job_id: int) -> list[Step]:
    rows = conn.execute(
        text(
            "select step, source, ordinal, status, started_at, ended_at, rows, error "
            "from ops.onboarding_steps where job_id = :j order by ordinal, step"
        ),
        {"j": job_id},
    ).all()
    return [Step(**r._asdict()) for r in rows]


def create_job(user_id: int) -> Job:
    """Create (or return, or re-queue) the onboarding job of one agent; idempotent.

    Args:
        user_id: the agent's platform id (must exist in ``ops.agents``).

    Returns:
        The job, with ``created_new`` true only if this call inserted the row, and a message
        saying what happened.

    Raises:
        NotFoundError: no agent with this ``user_id``.
    """
    db.ensure_ready()
    with db.begin() as conn:
        exists = conn.execute(
            text("select 1 from ops.agents where user_id = :u"), {"u": user_id}
        ).scalar()
        if exists is None:
            raise NotFoundError(f"no agent with user_id {user_id}")
        inserted = conn.execute(
            text(
                f"insert into ops.onboarding_jobs (user_id) values (:u) "
                f"on conflict (user_id) do nothing returning {_JOB_COLUMNS}"
            ),
            {"u": user_id},
        ).first()
        if inserted is not None:
            job = _job_from_row(inserted)
            job.created_new, job.message = True, "Onboarding job created"
            return job
        # The row exists: lock it, then decide (re-queue a failed job, keep anything else).
        row = conn.execute(
            text(f"select {_JOB_COLUMNS} from ops.onboarding_jobs where user_id = :u for update"),
            {"u": user_id},
        ).one()
        job = _job_from_row(row)
        if job.status in ("Partial", "Error"):
            previous = job.status
            row = conn.execute(
                text(
                    f"update ops.onboarding_jobs set status = 'New', updated_at = now(), "
                    f"error = null, flow_run_id = null, interruptions = 0 "
                    f"where job_id = :j returning {_JOB_COLUMNS}"
                ),
                {"j": job.job_id},
            ).one()
            job = _job_from_row(row)
            job.message = f"Onboarding re-queued (was {previous})"
        elif job.status == "Complete":
            job.message = "Onboarding already completed"
        else:
            job.message = f"Onboarding job already {job.status}"
        job.steps = _load_steps(conn, job.job_id)
        return job


def get_job(user_id: int) -> Job:
    """The job of one agent with its steps; :class:`NotFoundError` if it has none."""
    db.ensure_ready()
    with db.begin() as conn:
        row = conn.execute(
            text(f"select {_JOB_COLUMNS} from ops.onboarding_jobs where user_id = :u"),
            {"u": user_id},
        ).first()
        if row is None:
            raise NotFoundError(f"agent {user_id} has no onboarding job")
        job = _job_from_row(row)
        job.steps = _load_steps(conn, job.job_id)
    return job


def list_jobs(status: str | None = None) -> list[Job]:
    """All jobs (optionally only one status), oldest first, with their steps."""
    db.ensure_ready()
    with db.begin() as conn:
        rows = conn.execute(
            text(
                f"select {_JOB_COLUMNS} from ops.onboarding_jobs "
                "where cast(:s as text) is null or status = :s order by created_at, job_id"
            ),
            {"s": status},
        ).all()
        jobs = [_job_from_row(r) for r in rows]
        for job in jobs:
            job.steps = _load_steps(conn, job.job_id)
    return jobs


DISPATCHED = "dispatched:"


def new_job_user_ids(limit: int | None = None, redispatch_minutes: float = 30) -> list[int]:
    """Agents whose job waits as New (oldest first): what the dispatcher picks up.

    A job already handed to the work pool (``mark_dispatched``) is left alone for
    ``redispatch_minutes``, then offered again (its run may have been lost).
    """
    db.ensure_ready()
    with db.begin() as conn:
        return list(
            conn.execute(
                text(
                    "select user_id from ops.onboarding_jobs where status = 'New' "
                    "and not (coalesce(flow_run_id, '') like :d "
                    "         and updated_at > now() - make_interval(mins => :m)) "
                    "order by created_at, job_id limit :n"
                ),
                {"n": limit, "d": DISPATCHED + "%", "m": redispatch_minutes},
            ).scalars()
        )


def mark_dispatched(user_id: int, flow_run_id: str) -> None:
    """Note that a New job was handed to a deployment run (so the next tick skips it)."""
    with db.begin() as conn:
        conn.execute(
            text(
                "update ops.onboarding_jobs set flow_run_id = :f, updated_at = now() "
                "where user_id = :u and status = 'New'"
            ),
            {"u": user_id, "f": DISPATCHED + flow_run_id},
        )


def start_job(user_id: int, flow_run_id: str | None, steps: list[tuple[str, str]]) -> Job | None:
    """Move an agent's New (or interrupted Started) job to Started and lay out its steps.

    The caller must hold the agent's onboarding lock (see :mod:`agentsync.locks`), so a Started
    job found here belongs to a run that died; it is resumed from the start (loads are
    idempotent: dlt keeps its cursors, dbt merges on natural keys).

    Args:
        user_id: the agent.
        flow_run_id: the Prefect flow run doing the work (for tracing).
        steps: ``(step_key, source)`` in run order; previous step rows are replaced.

    Returns:
        The started job, or None when the job is not New/Started (e.g. already Complete).
    """
    with db.begin() as conn:
        row = conn.execute(
            text(
                f"""
                update ops.onboarding_jobs
                   set status = 'Started', started_at = now(), ended_at = null,
                       updated_at = now(), attempts = attempts + 1, flow_run_id = :f, error = null,
                       owner = :o
                 where user_id = :u and status in ('New', 'Started')
                returning {_JOB_COLUMNS}
                """
            ),
            {"u": user_id, "f": flow_run_id, "o": liveness.owner_token()},
        ).first()
        if row is None:
            return None
        job = _job_from_row(row)
        conn.execute(text("delete from ops.onboarding_steps where job_id = :j"), {"j": job.job_id})
        if steps:
            conn.execute(
                text(
                    "insert into ops.onboarding_steps (job_id, step, source, ordinal) "
                    "values (:j, :s, :src, :o)"
                ),
                [
                    {"j": job.job_id, "s": key, "src": source, "o": i}
                    for i, (key, source) in enumerate(steps)
                ],
            )
        job.steps = _load_steps(conn, job.job_id)
    return job


def step_running(job_id: int, step: str) -> None:
    """Mark a step running (sets its start time)."""
    _update_step(job_id, step, "running", started=True)


def step_finished(
    job_id: int, step: str, status: str, rows: int | None = None, error: str | None = None
) -> None:
    """Record a step's end: ``done``, ``failed`` (with the error) or ``skipped`` (with why)."""
    if status not in ("done", "failed", "skipped"):
        raise ValueError(f"a finished step is done, failed or skipped, not {status!r}")
    _update_step(job_id, step, status, ended=True, rows=rows, error=error)


def _update_step(
    job_id: int,
    step: str,
    status: str,
    *,
    started: bool = False,
    ended: bool = False,
    rows: int | None = None,
    error: str | None = None,
) -> None:
    with db.begin() as conn:
        res = conn.execute(
            text(
                """
                update ops.onboarding_steps
                   set status = :st,
                       started_at = case when :started then now() else started_at end,
                       ended_at = case when :ended then now() else ended_at end,
                       rows = coalesce(:rows, rows),
                       error = :err
                 where job_id = :j and step = :s
                """
            ),
            {
                "st": status,
                "started": started,
                "ended": ended,
                "rows": rows,
                "err": None if error is None else error[:2000],
                "j": job_id,
                "s": step,
            },
        )
        if res.rowcount == 0:
            raise NotFoundError(f"job {job_id} has no step {step!r}")
        conn.execute(
            text("update ops.onboarding_jobs set updated_at = now() where job_id = :j"),
            {"j": job_id},
        )


def finish_job(job_id: int) -> Job:
    """End a Started job: Complete if no step failed, Partial if at least one did."""
    with db.begin() as conn:
        failed = conn.execute(
            text(
                "select count(*) from ops.onboarding_steps where job_id = :j and status = 'failed'"
            ),
            {"j": job_id},
        ).scalar_one()
        status = "Partial" if failed else "Complete"
        row = conn.execute(
            text(
                f"""
                update ops.onboarding_jobs
                   set status = :st, ended_at = now(), updated_at = now(), interruptions = 0,
                       error = case when :st = 'Partial' then :msg else null end
                 where job_id = :j and status = 'Started'
                returning {_JOB_COLUMNS}
                """
            ),
            {"st": status, "j": job_id, "msg": f"{failed} step(s) failed"},
        ).first()
        if row is None:
            raise NotFoundError(f"job {job_id} is not Started; cannot finish it")
        job = _job_from_row(row)
        job.steps = _load_steps(conn, job_id)
    return job


def fail_job(job_id: int, error: str) -> None:
    """End a job as Error (an exception outside any step); running steps become failed."""
    with db.begin() as conn:
        conn.execute(
            text(
                """
                update ops.onboarding_steps
                   set status = 'failed', ended_at = now(),
                       error = coalesce(error, 'interrupted: the job failed outside this step')
                 where job_id = :j and status = 'running'
                """
            ),
            {"j": job_id},
        )
        conn.execute(
            text(
                """
                update ops.onboarding_jobs
                   set status = 'Error', ended_at = now(), updated_at = now(), error = :e
                 where job_id = :j
                """
            ),
            {"j": job_id, "e": error[:2000]},
        )
