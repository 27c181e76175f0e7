{{ config(materialized='ephemeral') }}
{{ fub_base('groups', [
    ('group_id', 'id', 'bigint'),
    ('group_name', 'name', 'text'),
    ('group_type', 'type', 'text'),
    ('distribution', 'distribution', 'text'),
    ('default_fub_user_id', 'default_user_id', 'bigint'),
    ('claim_window_seconds', 'claim_window', 'bigint'),
    ('is_primary', 'is_primary', 'boolean'),
    ('members', 'users', 'jsonb'),
]) }}
