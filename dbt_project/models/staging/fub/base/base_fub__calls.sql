{{ config(materialized='ephemeral') }}
{{ fub_base('calls', [
    ('call_id', 'id', 'bigint'),
    ('created_at', 'created', 'timestamptz'),
    ('updated_at', 'updated', 'timestamptz'),
    ('person_id', 'person_id', 'bigint'),
    ('fub_user_id', 'fub_user_id', 'bigint'),
    ('user_name', 'user_name', 'text'),
    ('phone', 'phone', 'text'),
    ('from_number', 'from_number', 'text'),
    ('to_number', 'to_number', 'text'),
    ('outcome', 'outcome', 'text'),
    ('is_incoming', 'is_incoming', 'boolean'),
    ('duration_seconds', 'duration', 'bigint'),
    ('note', 'note', 'text'),
]) }}
