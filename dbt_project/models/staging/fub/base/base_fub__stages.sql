{{ config(materialized='ephemeral') }}
{{ fub_base('stages', [
    ('stage_id', 'id', 'bigint'),
    ('stage_name', 'name', 'text'),
    ('order_weight', 'order_weight', 'bigint'),
    ('is_protected', 'is_protected', 'boolean'),
    ('description', 'description', 'text'),
    ('people_count', 'people_count', 'bigint'),
]) }}
