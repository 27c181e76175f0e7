{{ config(
    materialized='incremental',
    unique_key=['user_id', 'fub_user_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_absent('users', 'fub_user_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__users', 'fub_user_id', 'updated_at') }}
select
    latest.user_id,
    latest.fub_user_id,
    latest.created_at,
    latest.updated_at,
    latest.full_name,
    latest.first_name,
    latest.last_name,
    latest.email,
    latest.phone,
    latest.user_role,
    latest.user_status,
    latest.timezone,
    latest.is_owner,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.fub_user_id = latest.fub_user_id
where existing.fub_user_id is null
   or latest.updated_at >= existing.updated_at
   or existing.updated_at is null
{% endif %}
