"""ops.webhook_events: failed events are retried with back-off across passes.

``next_attempt_at`` is when a ``failed`` event may be claimed again (now + base * 2^(attempts-1),
capped); null on a failed event that used up its attempts (failed permanently, until
``agentsync webhooks replay`` re-queues it).

Revision ID: 0008_webhook_retry
Revises: 0007_run_owner
"""

from alembic import op

revision = "0008_webhook_retry"
down_revision = "0007_run_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "alter table ops.webhook_events add column if not exists next_attempt_at timestamptz"
    )


def downgrade() -> None:
    op.execute("alter table ops.webhook_events drop column if exists next_attempt_at")
