"""ops: who runs a job or a sync run, so a run whose process died is recognised at once.

``owner`` is the process lease of the run's process (:mod:`agentsync.liveness`): while that
process lives, it holds an advisory lock named after the lease; when it dies, PostgreSQL drops the
lock with its session. ``interruptions`` counts how often a job's run died and was re-queued by the
dispatcher (bounded by ``AGENTSYNC_MAX_INTERRUPTED_ATTEMPTS``; reset when a run ends normally).

Revision ID: 0007_run_owner
Revises: 0006_quality
"""

from alembic import op

revision = "0007_run_owner"
down_revision = "0006_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table ops.sync_runs add column if not exists owner text")
    op.execute("alter table ops.onboarding_jobs add column if not exists owner text")
    op.execute(
        "alter table ops.onboarding_jobs "
        "add column if not exists interruptions integer not null default 0"
    )
    op.execute(
        "create index if not exists sync_runs_running on ops.sync_runs (owner) "
        "where status = 'running'"
    )
    op.execute(
        "comment on column ops.sync_runs.owner is "
        "'Process lease (host:pid:token) of the process writing this run; dead when its lock is free.'"
    )
    op.execute(
        "comment on column ops.onboarding_jobs.owner is "
        "'Process lease (host:pid:token) of the process running this job; dead when its lock is free.'"
    )


def downgrade() -> None:
    op.execute("drop index if exists ops.sync_runs_running")
    op.execute("alter table ops.onboarding_jobs drop column if exists interruptions")
    op.execute("alter table ops.onboarding_jobs drop column if exists owner")
    op.execute("alter table ops.sync_runs drop column if exists owner")
