{{ config(
    materialized='incremental',
    unique_key=['user_id', 'appointment_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_deletions('appointments', 'appointment_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__appointments', 'appointment_id', 'updated_at') }}
select
    latest.user_id,
    latest.appointment_id,
    latest.created_at,
    latest.updated_at,
    latest.title,
    latest.description,
    latest.starts_at,
    latest.ends_at,
    latest.timezone,
    latest.is_all_day,
    latest.location,
    latest.appointment_type,
    latest.outcome,
    latest.invitees,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.appointment_id = latest.appointment_id
where existing.appointment_id is null
   or latest.updated_at >= existing.updated_at
   or existing.updated_at is null
{% endif %}
