{{ config(materialized='ephemeral') }}
{{ fub_base('appointments', [
    ('appointment_id', 'id', 'bigint'),
    ('created_at', 'created', 'timestamptz'),
    ('updated_at', 'updated', 'timestamptz'),
    ('title', 'title', 'text'),
    ('description', 'description', 'text'),
    ('starts_at', 'start', 'timestamptz'),
    ('ends_at', 'end', 'timestamptz'),
    ('timezone', 'timezone', 'text'),
    ('is_all_day', 'all_day', 'boolean'),
    ('location', 'location', 'text'),
    ('appointment_type', 'type', 'text'),
    ('outcome', 'outcome', 'text'),
    ('invitees', 'invitees', 'jsonb'),
]) }}
