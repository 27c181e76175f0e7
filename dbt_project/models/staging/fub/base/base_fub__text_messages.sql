{{ config(materialized='ephemeral') }}
{{ fub_base('text_messages', [
    ('text_message_id', 'id', 'bigint'),
    ('created_at', 'created', 'timestamptz'),
    ('updated_at', 'updated', 'timestamptz'),
    ('person_id', 'person_id', 'bigint'),
    ('fub_user_id', 'fub_user_id', 'bigint'),
    ('user_name', 'user_name', 'text'),
    ('message_status', 'status', 'text'),
    ('message', 'message', 'text'),
    ('from_number', 'from_number', 'text'),
    ('to_number', 'to_number', 'text'),
    ('sent_at', 'sent', 'timestamptz'),
    ('is_incoming', 'is_incoming', 'boolean'),
    ('is_archived', 'archived', 'boolean'),
    ('is_read', 'read', 'boolean'),
]) }}
