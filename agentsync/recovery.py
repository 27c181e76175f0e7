"""Runs whose process died: found at once, recorded truthfully, re-queued without a person.

A ``Started`` onboarding job or a ``running`` sync run names its ``owner``, the lease of the
process doing it (:mod:`agentsync.liveness`). When that lease is free the process is gone, and
:func:`recover_dead_runs` (called by every dispatch, so the dispatcher's interval bounds the
delay) settles what it left:

- each ``running`` sync run becomes ``failed`` with ``interrupted: ...`` as its error (its dlt
  cursor never moved past what was committed, so the next run re-reads what it lost);
- each ``Started`` job's ``running`` step becomes ``failed`` with the same reason, and the job goes
  back to ``New`` (``error`` says where it died and which interruption this was), to be picked up
  by the same dispatch; after ``AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS`` interruptions in a row it
  ends ``Error`` instead, so a run that dies every time (e.g. out of memory) is not retried forever.

:func:`dead_runs` only looks (health uses it: a dead run is critical the moment it is dead, not
after the stuck-job threshold). Rows without an owner (written before owners were recorded) are
left to the stuck-job check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import text

from agentsync import db, liveness
from agentsync.settings import Settings, get_settings

INTERRUPTED = "interrupted"
log = logging.getLogger(__name__)


@dataclass
class DeadJob:
    """A Started job whose process is gone."""

    job_id: int
    user_id: int
    owner: str
    step: str | None  # the step that was running, if any
    interruptions: int  # before this one


@dataclass
class DeadRuns:
    """What :func:`dead_runs` found."""

    jobs: list[DeadJob] = field(default_factory=list)
    sync_runs: list[dict] = field(default_factory=list)  # run_id, user_id, source, entity, owner


@dataclass
class Recovered:
    """What :func:`recover_dead_runs` did."""

    requeued: list[int] = field(default_factory=list)  # user ids back to New
    gave_up: list[int] = field(default_factory=list)  # user ids ended Error
    sync_runs: list[int] = field(default_factory=list)  # run ids marked failed

    def __bool__(self) -> bool:
        return bool(self.requeued or self.gave_up or self.sync_runs)


def dead_runs(settings: Settings | None = None) -> DeadRuns:
    """Started jobs and running sync runs whose owner's process is gone (read only)."""
    with db.begin(settings) as conn:
        jobs = conn.execute(
            text(
                """
                select j.job_id, j.user_id, j.owner, j.interruptions,
                       (select s.step from ops.onboarding_steps as s
                         where s.job_id = j.job_id and s.status = 'running'
                         order by s.ordinal limit 1) as step
                  from ops.onboarding_jobs as j
                 where j.status = 'Started' and j.owner is not null
                 order by j.job_id
                """
            )
        ).all()
        runs = conn.execute(
            text(
                "select run_id, user_id, source, entity, owner from ops.sync_runs "
                "where status = 'running' and owner is not null order by run_id"
            )
        ).all()
    living = liveness.alive([j.owner for j in jobs] + [r.owner for r in runs], settings)
    return DeadRuns(
        jobs=[
            DeadJob(j.job_id, j.user_id, j.owner, j.step, j.interruptions)
            for j in jobs
            if j.owner not in living
        ],
        sync_runs=[r._asdict() for r in runs if r.owner not in living],
    )


def recover_dead_runs(settings: Settings | None = None) -> Recovered:
    """Mark dead runs interrupted and re-queue (or, past the bound, end) their jobs."""
    s = settings or get_settings()
    found = dead_runs(s)
    out = Recovered()
    with db.begin(s) as conn:
        for run in found.sync_runs:
            done = conn.execute(
                text(
                    """
                    update ops.sync_runs
                       set status = 'failed', ended_at = now(),
                           error = :e
                     where run_id = :r and status = 'running' and owner = :o
                    """
                ),
                {
                    "r": run["run_id"],
                    "o": run["owner"],
                    "e": f"{INTERRUPTED}: the process running it ({run['owner']}) died",
                },
            ).rowcount
            if done:
                out.sync_runs.append(run["run_id"])
                log.warning(
                    "sync run %s (user %s %s.%s) was interrupted: its process %s died",
                    run["run_id"],
                    run["user_id"],
                    run["source"],
                    run["entity"],
                    run["owner"],
                )
        for job in found.jobs:
            where = f"during {job.step}" if job.step else "between steps"
            attempt = job.interruptions + 1
            conn.execute(
                text(
                    """
                    update ops.onboarding_steps
                       set status = 'failed', ended_at = now(), error = :e
                     where job_id = :j and status = 'running'
                    """
                ),
                {"j": job.job_id, "e": f"{INTERRUPTED}: the run's process ({job.owner}) died"},
            )
            if attempt <= s.max_interrupted_attempts:
                status = "New"
                error = (
                    f"{INTERRUPTED} {where} (the process {job.owner} died); re-queued "
                    f"(interruption {attempt} of at most {s.max_interrupted_attempts})"
                )
            else:
                status = "Error"
                error = (
                    f"{INTERRUPTED} {where} (the process {job.owner} died), {attempt} times in a "
                    f"row; not re-queued (AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS="
                    f"{s.max_interrupted_attempts})"
                )
            changed = conn.execute(
                text(
                    """
                    update ops.onboarding_jobs
                       set status = :st, error = :e, interruptions = :n, updated_at = now(),
                           flow_run_id = null,
                           ended_at = case when :st = 'Error' then now() else null end
                     where job_id = :j and status = 'Started' and owner = :o
                    """
                ),
                {"st": status, "e": error, "n": attempt, "j": job.job_id, "o": job.owner},
            ).rowcount
            if changed:
                (out.requeued if status == "New" else out.gave_up).append(job.user_id)
                log.warning("onboarding job %s (user %s): %s", job.job_id, job.user_id, error)
    return out
