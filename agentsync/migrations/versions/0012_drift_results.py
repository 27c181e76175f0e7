"""ops.drift_results: the drift check's finding per raw table, kept for as long as its inputs hold.

The drift check (:mod:`agentsync.quality.drift`) judges each raw table from the agents' newest
loads, the columns the model views read and the schema versions dlt recorded. When none of those
changed since the last gate (a day on which nothing landed), its finding is the same; each row
holds the finding of one table for one scope of agents with a fingerprint of every input, so a
gate reads the fingerprint's inputs from the catalog and ``ops.sync_runs`` and reuses the
finding instead of reading raw rows and schema history again.

Revision ID: 0012_drift_results
Revises: 0011_api_pacing
"""

from alembic import op

revision = "0012_drift_results"
down_revision = "0011_api_pacing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists ops.drift_results (
            relation    text not null,
            scope       text not null,
            fingerprint text not null,
            report      jsonb not null,
            checked_at  timestamptz not null default now(),
            primary key (relation, scope)
        )
        """
    )
    op.execute(
        "comment on table ops.drift_results is 'The drift check''s finding per raw table and "
        "scope of agents, reused while its fingerprint (loads, mapped columns, schema version, "
        "severity) holds (agentsync.quality.drift).'"
    )


def downgrade() -> None:
    op.execute("drop table if exists ops.drift_results")
