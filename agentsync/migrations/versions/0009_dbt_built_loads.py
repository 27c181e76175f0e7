"""ops.dbt_built_loads: committed dlt loads whose dbt work is done (or was not needed).

A flow's dbt build selects only the models downstream of the raw tables that received the loads
not listed here (:mod:`agentsync.pending_loads`); after the build succeeds, those loads are listed,
so the next build starts from what arrived since. A load that wrote no row to any table dbt reads
is listed at once (there is nothing to build for it).

Revision ID: 0009_dbt_built_loads
Revises: 0008_webhook_retry
"""

from alembic import op

revision = "0009_dbt_built_loads"
down_revision = "0008_webhook_retry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists ops.dbt_built_loads (
            schema_name  text not null,
            load_id      text not null,
            built_at     timestamptz not null default now(),
            primary key (schema_name, load_id)
        );
        comment on table ops.dbt_built_loads is
            'dlt loads whose downstream dbt models a flow build has built: what the next build skips.';
        """
    )


def downgrade() -> None:
    op.execute("drop table if exists ops.dbt_built_loads")
