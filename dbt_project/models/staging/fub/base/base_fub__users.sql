{{ config(materialized='ephemeral') }}
{{ fub_base('users', [
    ('fub_user_id', 'id', 'bigint'),
    ('created_at', 'created', 'timestamptz'),
    ('updated_at', 'updated', 'timestamptz'),
    ('full_name', 'name', 'text'),
    ('first_name', 'first_name', 'text'),
    ('last_name', 'last_name', 'text'),
    ('email', 'email', 'text'),
    ('phone', 'phone', 'text'),
    ('user_role', 'role', 'text'),
    ('user_status', 'status', 'text'),
    ('timezone', 'timezone', 'text'),
    ('is_owner', 'is_owner', 'boolean'),
]) }}
