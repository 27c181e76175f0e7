"""ops.fub_held_counts: FUB's deletion count proof, kept while no evidence about the ids changed.

The count proof (:func:`dlt_pipelines.fub.deletions.held_count`) counts |K|, the ids held as live
for one agent and entity, by reading every raw version, change and quarantined record of the
agent: at seed scale about 13 s a day, the same on a day when nothing landed. The evidence is
written only by dlt loads into ``raw_fub`` and by quarantine rows, so each count is kept with a
mark of both (the newest committed ``raw_fub`` load, the agent's newest quarantined record of
the entity); a day whose mark is the same reuses the count instead of reading the agent's raw.

Revision ID: 0014_fub_held_counts
Revises: 0013_api_slot_wait
"""

from alembic import op

revision = "0014_fub_held_counts"
down_revision = "0013_api_slot_wait"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists ops.fub_held_counts (
            user_id    bigint not null,
            entity     text not null,
            mark       text not null,
            held       bigint not null,
            counted_at timestamptz not null default now(),
            primary key (user_id, entity)
        )
        """
    )
    op.execute(
        "comment on table ops.fub_held_counts is 'FUB ids held as live per agent and entity (the "
        "deletion count proof), reused while no raw_fub load or quarantined record came since "
        "(dlt_pipelines.fub.deletions).'"
    )


def downgrade() -> None:
    op.execute("drop table if exists ops.fub_held_counts")
