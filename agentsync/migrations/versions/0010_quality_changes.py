"""ops.quality_changes and ops.quality_counts: what lets the quality gate cost the change.

The gate's per-agent counts read an entity's raw table, its final table and ``ops.quarantine``
(:func:`agentsync.quality.metrics.counts_sql`). They are kept between runs in
``quality."<source>__<entity>__counts"`` and recomputed only for the agents whose rows changed.

What changed is recorded by the database itself, whoever writes (dlt, dbt, a person with psql):
statement-level triggers on each entity's raw and final tables (installed by the gate,
:mod:`agentsync.quality.changes`; these are their functions) and on ``ops.quarantine`` (here)
append ``(entity, user_id)`` for every agent a statement touched; ``TRUNCATE`` appends
``(entity, null)``: every agent. The gate takes (deletes) the rows of an entity when it
recomputes those agents, in the same transaction.

``ops.drift_load_counts``: what the drift check read of each committed load (rows, non-null
count per column), so a gate reads only the loads it has not read before.

``ops.quality_counts``: per entity, the digest of the counts query the kept counts were computed
with; a different query (a registry change, a table that appeared) recomputes every agent.

Revision ID: 0010_quality_changes
Revises: 0009_dbt_built_loads
"""

from alembic import op

revision = "0010_quality_changes"
down_revision = "0009_dbt_built_loads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists ops.quality_changes (
            entity     text not null,
            user_id    bigint,
            relation   text not null,
            op         text not null,
            noted_at   timestamptz not null default now()
        );
        create index if not exists quality_changes_by_entity on ops.quality_changes (entity);
        comment on table ops.quality_changes is
            'Agents whose rows of an entity''s raw/final tables or quarantine changed since the quality gate last counted them (user_id null: every agent).';

        create table if not exists ops.quality_counts (
            entity       text primary key,
            digest       text not null,
            counted_at   timestamptz not null default now()
        );
        comment on table ops.quality_counts is
            'Per entity, the digest of the counts query quality.<source>__<entity>__counts was computed with.';

        create table if not exists ops.drift_load_counts (
            relation    text not null,
            user_id     bigint not null,
            load_id     text not null,
            rows        bigint not null,
            populated   jsonb not null,
            primary key (relation, user_id, load_id)
        );
        comment on table ops.drift_load_counts is
            'Per raw table, agent and load: rows and non-null count per column, as the drift check last read them (a committed load does not change; an update or delete of raw rows forgets the agent''s entries).';

        -- triggers on raw and final tables: TG_ARGV[0] is the entity key
        create or replace function ops.agentsync_note_rows() returns trigger
        language plpgsql as $$
        begin
            insert into ops.quality_changes (entity, user_id, relation, op)
            select distinct TG_ARGV[0], user_id, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP
              from changed_rows;
            return null;
        end $$;

        create or replace function ops.agentsync_note_updated_rows() returns trigger
        language plpgsql as $$
        begin
            insert into ops.quality_changes (entity, user_id, relation, op)
            select TG_ARGV[0], user_id, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP
              from (select user_id from changed_rows union select user_id from old_rows) as u;
            return null;
        end $$;

        create or replace function ops.agentsync_note_truncate() returns trigger
        language plpgsql as $$
        begin
            insert into ops.quality_changes (entity, user_id, relation, op)
            values (TG_ARGV[0], null, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP);
            return null;
        end $$;

        -- ops.quarantine: the entity is in the row
        create or replace function ops.agentsync_note_quarantine() returns trigger
        language plpgsql as $$
        begin
            insert into ops.quality_changes (entity, user_id, relation, op)
            select distinct source || '.' || entity, user_id, 'ops.quarantine', TG_OP
              from changed_rows;
            return null;
        end $$;

        create or replace function ops.agentsync_note_quarantine_update() returns trigger
        language plpgsql as $$
        begin
            insert into ops.quality_changes (entity, user_id, relation, op)
            select e, u, 'ops.quarantine', TG_OP from (
                select source || '.' || entity as e, user_id as u from changed_rows
                union
                select source || '.' || entity, user_id from old_rows) as c;
            return null;
        end $$;

        create or replace function ops.agentsync_note_quarantine_truncate() returns trigger
        language plpgsql as $$
        begin
            -- every entity: the gate treats a change row with no user as "all agents"
            insert into ops.quality_changes (entity, user_id, relation, op)
            select distinct entity, null::bigint, 'ops.quarantine', TG_OP from ops.quality_counts;
            return null;
        end $$;

        drop trigger if exists agq_ins on ops.quarantine;
        drop trigger if exists agq_del on ops.quarantine;
        drop trigger if exists agq_upd on ops.quarantine;
        drop trigger if exists agq_trunc on ops.quarantine;
        create trigger agq_ins after insert on ops.quarantine
            referencing new table as changed_rows
            for each statement execute function ops.agentsync_note_quarantine();
        create trigger agq_del after delete on ops.quarantine
            referencing old table as changed_rows
            for each statement execute function ops.agentsync_note_quarantine();
        create trigger agq_upd after update on ops.quarantine
            referencing old table as old_rows new table as changed_rows
            for each statement execute function ops.agentsync_note_quarantine_update();
        create trigger agq_trunc after truncate on ops.quarantine
            for each statement execute function ops.agentsync_note_quarantine_truncate();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        drop trigger if exists agq_ins on ops.quarantine;
        drop trigger if exists agq_del on ops.quarantine;
        drop trigger if exists agq_upd on ops.quarantine;
        drop trigger if exists agq_trunc on ops.quarantine;
        drop function if exists ops.agentsync_note_quarantine_truncate();
        drop function if exists ops.agentsync_note_quarantine_update();
        drop function if exists ops.agentsync_note_quarantine();
        drop function if exists ops.agentsync_note_truncate() cascade;
        drop function if exists ops.agentsync_note_updated_rows() cascade;
        drop function if exists ops.agentsync_note_rows() cascade;
        drop table if exists ops.drift_load_counts, ops.quality_counts, ops.quality_changes;
        """
    )
