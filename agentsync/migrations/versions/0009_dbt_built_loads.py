"""ops.dbt_built_loads and ops.dbt_view_digests: what a dbt build can skip.

``dbt_built_loads``: committed dlt loads whose dbt work is done (or was not needed).

A flow's dbt build selects only the models downstream of the raw tables that received the loads
not listed here (:mod:`agentsync.pending_loads`); after the build succeeds, those loads are listed,
so the next build starts from what arrived since. A load that wrote no row to any table dbt reads
is listed at once (there is nothing to build for it).

``dbt_view_digests``: the digest of each view's definition when the project's view
materialization (``dbt_project/macros/view_unless_unchanged.sql``) last created it; a view whose
digest is unchanged (and which still exists) is left as it is.

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

        create table if not exists ops.dbt_view_digests (
            relation    text primary key,
            digest      text not null,
            created_at  timestamptz not null default now()
        );
        comment on table ops.dbt_view_digests is
            'md5 of each dbt view''s definition when it was last created: an unchanged view is not re-created.';
        """
    )


def downgrade() -> None:
    op.execute("drop table if exists ops.dbt_view_digests, ops.dbt_built_loads")
