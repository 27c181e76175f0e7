"""ops for quality: the ``quality`` schema (per-entity count/freshness views of the gate).

The views themselves are (re)created by the gate from the entity registry
(:func:`agentsync.quality.gx.refresh_views`); alert state uses ``ops.alerts`` from 0001.

Revision ID: 0006_quality
Revises: 0005_orchestration
"""

from alembic import op

revision = "0006_quality"
down_revision = "0005_orchestration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create schema if not exists quality")
    op.execute(
        "comment on schema quality is "
        "'Views the quality gate validates: counts and freshness per source entity and agent.'"
    )
    op.execute("create index if not exists alerts_open on ops.alerts (state) where state = 'open'")


def downgrade() -> None:
    op.execute("drop index if exists ops.alerts_open")
    op.execute("drop schema if exists quality cascade")
