{{ config(materialized='ephemeral') }}
{{ fub_base('events', [
    ('event_id', 'id', 'bigint'),
    ('created_at', 'created', 'timestamptz'),
    ('updated_at', 'updated', 'timestamptz'),
    ('occurred_at', 'occurred', 'timestamptz'),
    ('person_id', 'person_id', 'bigint'),
    ('event_type', 'type', 'text'),
    ('event_source', 'source', 'text'),
    ('message', 'message', 'text'),
    ('description', 'description', 'text'),
    ('page_url', 'page_url', 'text'),
    ('page_duration_seconds', 'page_duration', 'bigint'),
    ('property', 'property', 'jsonb'),
    ('property_search', 'property_search', 'jsonb'),
]) }}
