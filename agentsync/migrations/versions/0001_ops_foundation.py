"""ops schema foundation: agents, credentials, jobs, sync runs, quarantine, webhooks, alerts,
and dbt's processed-load bookkeeping.

Revision ID: 0001_ops_foundation
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "0001_ops_foundation"
down_revision = None
branch_labels = None
depends_on = None

INTEGRATIONS = "('fub', 'rezen', 'skyslope', 'qualia')"


def upgrade() -> None:
    op.execute("create schema if not exists ops")
    op.execute(
        """
        create table ops.agents (
            user_id     bigint primary key check (user_id > 0),
            name        text not null check (length(trim(name)) > 0),
            created_at  timestamptz not null default now(),
            updated_at  timestamptz not null default now()
        );
        comment on table ops.agents is
            'One row per agent-user; user_id is the platform id used everywhere.';

        create table ops.credentials (
            user_id      bigint not null references ops.agents(user_id) on delete cascade,
            integration  text not null check (integration in """
        + INTEGRATIONS
        + """),
            secret       bytea not null,
            field_names  text[] not null,
            created_at   timestamptz not null default now(),
            updated_at   timestamptz not null default now(),
            primary key (user_id, integration)
        );
        comment on column ops.credentials.secret is
            'Fernet token of the JSON credential; never stored or shown in clear.';

        create table ops.onboarding_jobs (
            job_id       bigserial primary key,
            user_id      bigint not null unique references ops.agents(user_id) on delete cascade,
            status       text not null default 'New'
                         check (status in ('New', 'Started', 'Complete', 'Partial', 'Error')),
            created_at   timestamptz not null default now(),
            updated_at   timestamptz not null default now(),
            started_at   timestamptz,
            ended_at     timestamptz,
            attempts     integer not null default 0,
            flow_run_id  text,
            error        text
        );

        create table ops.onboarding_steps (
            job_id      bigint not null references ops.onboarding_jobs(job_id) on delete cascade,
            step        text not null,
            source      text not null,
            ordinal     integer not null,
            status      text not null default 'pending'
                        check (status in ('pending', 'running', 'done', 'failed', 'skipped')),
            started_at  timestamptz,
            ended_at    timestamptz,
            rows        bigint,
            error       text,
            primary key (job_id, step)
        );

        create table ops.sync_runs (
            run_id          bigserial primary key,
            kind            text not null check (kind in ('onboarding', 'daily', 'webhook', 'manual')),
            flow_run_id     text,
            user_id         bigint not null,
            source          text not null,
            entity          text not null,
            started_at      timestamptz not null default now(),
            ended_at        timestamptz,
            status          text not null default 'running'
                            check (status in ('running', 'done', 'failed', 'skipped')),
            rows            bigint,
            reported_total  bigint,
            cursor          text,
            load_id         text,
            error           text
        );
        create index sync_runs_latest on ops.sync_runs (user_id, source, entity, started_at desc);
        comment on column ops.sync_runs.reported_total is
            'What the source API said the total was (e.g. FUB _metadata.total), for reconciliation.';

        create table ops.quarantine (
            quarantine_id   bigserial primary key,
            user_id         bigint not null,
            source          text not null,
            entity          text not null,
            record_id       text,
            reason          text not null,
            record          jsonb not null,
            load_id         text,
            quarantined_at  timestamptz not null default now()
        );
        create index quarantine_by_entity on ops.quarantine (user_id, source, entity);

        create table ops.webhook_events (
            event_id      bigserial primary key,
            received_at   timestamptz not null default now(),
            user_id       bigint,
            event         text not null,
            resource_ids  jsonb,
            uri           text,
            payload       jsonb not null,
            status        text not null default 'received'
                          check (status in ('received', 'processed', 'failed')),
            attempts      integer not null default 0,
            processed_at  timestamptz,
            error         text
        );
        create index webhook_events_pending on ops.webhook_events (status, event_id);

        create table ops.alerts (
            alert_key          text primary key,
            severity           text not null check (severity in ('warning', 'critical')),
            message            text not null,
            state              text not null check (state in ('open', 'cleared')),
            opened_at          timestamptz not null default now(),
            last_seen_at       timestamptz not null default now(),
            cleared_at         timestamptz,
            notified_open_at   timestamptz,
            notified_clear_at  timestamptz
        );

        create table ops.dbt_load_batch (
            invocation_id  text not null,
            schema_name    text not null,
            load_id        text not null,
            primary key (invocation_id, schema_name, load_id)
        );
        comment on table ops.dbt_load_batch is
            'dlt loads committed when a dbt invocation started: the frozen set it may process.';

        create table ops.dbt_processed_loads (
            model         text not null,
            schema_name   text not null,
            load_id       text not null,
            processed_at  timestamptz not null default now(),
            primary key (model, load_id)
        );
        comment on table ops.dbt_processed_loads is
            'Which dlt loads each incremental mart has merged: the measurable processed state.';
        """
    )


def downgrade() -> None:
    # Tables only: the schema also holds Alembic's own version table.
    op.execute(
        """
        drop table if exists ops.dbt_processed_loads, ops.dbt_load_batch, ops.alerts,
            ops.webhook_events, ops.quarantine, ops.sync_runs, ops.onboarding_steps,
            ops.onboarding_jobs, ops.credentials, ops.agents cascade
        """
    )
