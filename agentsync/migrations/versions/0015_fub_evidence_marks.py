"""ops.fub_evidence_marks: a per-agent mark of the evidence FUB's deletion count proof reads.

The count proof keeps |K| (``ops.fub_held_counts``) and reuses it while its evidence is
unchanged. Until this revision the mark of that evidence was dataset-wide (how many ``raw_fub``
loads there were, and the newest): any agent's load made every agent count again, so the first
quiet day after a change reused almost nothing (11.3 s of a 29 s seed-scale quiet day).

Here the database itself keeps the mark, per agent and entity, whoever writes: statement-level
triggers on the tables the proof reads (``raw_fub.<entity>``, ``raw_fub.id_changes``,
``raw_fub.deleted_ids`` and ``ops.quarantine``'s FUB rows) add one to ``seq`` of every
``(user_id, entity)`` a statement inserted, updated or deleted rows of; a ``TRUNCATE`` adds one
to every agent's. A load of one agent leaves every other agent's mark as it was; a settled
pending package, a webhook's load and a hand edit of raw move the agent's.

The triggers on ``ops.quarantine`` are installed here; those on the raw tables by
:func:`dlt_pipelines.fub.deletions.held_count` (dlt creates the raw tables on their first load,
without them), and a check that has to install one forgets every kept count the table's rows
may have changed.

``ops.fub_walk_counts``: a walk knows |K| after its changes land (what it held, less the ids
gone, plus the ids back), but the load of those changes moves the agent's mark. The walk
registers that count with the mark it read before reading what it held; the trigger on
``raw_fub.id_changes`` keeps it in ``ops.fub_held_counts`` when the statement holds exactly the
walk's changes and nothing else moved the mark in between, so the day after a walk reuses it
instead of counting the agent's raw again. Anything else leaves it unkept: the next check counts.

Revision ID: 0015_fub_evidence_marks
Revises: 0014_fub_held_counts
"""

from alembic import op

revision = "0015_fub_evidence_marks"
down_revision = "0014_fub_held_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists ops.fub_evidence_marks (
            user_id bigint not null,
            entity  text not null,
            seq     bigint not null default 0,
            primary key (user_id, entity)
        );
        comment on table ops.fub_evidence_marks is
            'Per agent and FUB entity, a counter every change to the rows the deletion count proof reads moves (raw_fub.<entity>, id_changes, deleted_ids, FUB quarantine rows; kept by triggers, dlt_pipelines.fub.deletions).';

        -- TG_ARGV[0]: the entity of every row (raw_fub.<entity>); none: the row's own entity
        -- column (raw_fub.id_changes, raw_fub.deleted_ids, ops.quarantine's FUB rows). Rows
        -- are locked in key order, so two statements never wait on each other in a cycle.
        create or replace function ops.agentsync_fub_mark_rows() returns trigger
        language plpgsql as $$
        begin
            if TG_NARGS > 0 then
                insert into ops.fub_evidence_marks as m (user_id, entity, seq)
                select distinct user_id, TG_ARGV[0]::text, 1 from changed_rows
                 where user_id is not null order by 1, 2
                on conflict (user_id, entity) do update set seq = m.seq + 1;
            else
                insert into ops.fub_evidence_marks as m (user_id, entity, seq)
                select distinct r.user_id, r.entity::text, 1 from changed_rows as r
                 where r.user_id is not null and r.entity is not null
                   and coalesce(to_jsonb(r) ->> 'source', 'fub') = 'fub'
                 order by 1, 2
                on conflict (user_id, entity) do update set seq = m.seq + 1;
            end if;
            return null;
        end $$;

        -- a walk's count, handed to ops.fub_held_counts by the load of its changes (below)
        create table if not exists ops.fub_walk_counts (
            user_id     bigint not null,
            entity      text not null,
            seq         bigint not null,
            tables      text not null,
            observed_at timestamptz not null,
            changes     bigint not null,
            held        bigint not null,
            primary key (user_id, entity)
        );
        comment on table ops.fub_walk_counts is
            'A FUB id walk''s |K| after its changes land: kept by the load of exactly those changes if no other write to the agent''s evidence came between (dlt_pipelines.fub.deletions.keep_walked_count).';

        -- raw_fub.id_changes inserts: the same mark, and a walk's count handed over when the
        -- statement holds exactly the walk's changes (its rows, its observed_at) and the
        -- agent's mark moved by nothing else since the walk read what it held
        create or replace function ops.agentsync_fub_mark_walk() returns trigger
        language plpgsql as $$
        begin
            with bumped as (
                insert into ops.fub_evidence_marks as m (user_id, entity, seq)
                select distinct r.user_id, r.entity::text, 1 from changed_rows as r
                 where r.user_id is not null and r.entity is not null order by 1, 2
                on conflict (user_id, entity) do update set seq = m.seq + 1
                returning m.user_id, m.entity, m.seq
            ), stmt as (
                select user_id, entity::text as entity, count(*) as n,
                       min(observed_at) as lo, max(observed_at) as hi
                  from changed_rows group by 1, 2
            ), handed as (
                delete from ops.fub_walk_counts as w
                 using bumped as b, stmt as s
                 where w.user_id = b.user_id and w.entity = b.entity
                   and s.user_id = b.user_id and s.entity = b.entity
                   and w.seq = b.seq - 1 and s.n = w.changes
                   and s.lo = w.observed_at and s.hi = w.observed_at
                returning w.user_id, w.entity, w.held, w.tables || '/' || b.seq as mark
            )
            insert into ops.fub_held_counts as k (user_id, entity, mark, held)
            select user_id, entity, mark, held from handed order by 1, 2
            on conflict (user_id, entity) do update
               set mark = excluded.mark, held = excluded.held, counted_at = now();
            return null;
        end $$;

        create or replace function ops.agentsync_fub_mark_updated_rows() returns trigger
        language plpgsql as $$
        begin
            if TG_NARGS > 0 then
                insert into ops.fub_evidence_marks as m (user_id, entity, seq)
                select user_id, TG_ARGV[0]::text, 1 from (
                    select user_id from changed_rows union select user_id from old_rows
                ) as u where user_id is not null order by 1, 2
                on conflict (user_id, entity) do update set seq = m.seq + 1;
            else
                insert into ops.fub_evidence_marks as m (user_id, entity, seq)
                select user_id, entity, 1 from (
                    select r.user_id, r.entity::text as entity from changed_rows as r
                     where coalesce(to_jsonb(r) ->> 'source', 'fub') = 'fub'
                    union
                    select r.user_id, r.entity::text from old_rows as r
                     where coalesce(to_jsonb(r) ->> 'source', 'fub') = 'fub'
                ) as u where user_id is not null and entity is not null order by 1, 2
                on conflict (user_id, entity) do update set seq = m.seq + 1;
            end if;
            return null;
        end $$;

        create or replace function ops.agentsync_fub_mark_truncate() returns trigger
        language plpgsql as $$
        begin
            update ops.fub_evidence_marks set seq = seq + 1
             where TG_NARGS = 0 or entity = TG_ARGV[0]::text;
            return null;
        end $$;

        -- ops.quarantine is ours: its triggers are installed here (the raw tables' by the check)
        create or replace trigger agfub_ins after insert on ops.quarantine
            referencing new table as changed_rows
            for each statement execute function ops.agentsync_fub_mark_rows();
        create or replace trigger agfub_del after delete on ops.quarantine
            referencing old table as changed_rows
            for each statement execute function ops.agentsync_fub_mark_rows();
        create or replace trigger agfub_upd after update on ops.quarantine
            referencing old table as old_rows new table as changed_rows
            for each statement execute function ops.agentsync_fub_mark_updated_rows();
        create or replace trigger agfub_trunc after truncate on ops.quarantine
            for each statement execute function ops.agentsync_fub_mark_truncate();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        drop function if exists ops.agentsync_fub_mark_walk() cascade;
        drop function if exists ops.agentsync_fub_mark_truncate() cascade;
        drop function if exists ops.agentsync_fub_mark_updated_rows() cascade;
        drop function if exists ops.agentsync_fub_mark_rows() cascade;
        drop table if exists ops.fub_walk_counts, ops.fub_evidence_marks;
        """
    )
