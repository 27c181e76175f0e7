{{ config(materialized='ephemeral') }}
{{ fub_base('pipelines', [
    ('pipeline_id', 'id', 'bigint'),
    ('pipeline_name', 'name', 'text'),
    ('description', 'description', 'text'),
    ('order_weight', 'order_weight', 'bigint'),
    ('deal_stages', 'stages', 'jsonb'),
]) }}
