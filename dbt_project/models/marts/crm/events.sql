{{ config(
    materialized='incremental',
    unique_key=['user_id', 'event_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_deletions('events', 'event_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__events', 'event_id', 'updated_at') }}
select
    latest.user_id,
    latest.event_id,
    latest.created_at,
    latest.updated_at,
    latest.occurred_at,
    latest.person_id,
    latest.event_type,
    latest.event_source,
    latest.message,
    latest.description,
    latest.page_url,
    latest.page_duration_seconds,
    latest.property,
    latest.property_search,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.event_id = latest.event_id
where existing.event_id is null
   or latest.updated_at >= existing.updated_at
   or existing.updated_at is null
{% endif %}
