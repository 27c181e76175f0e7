{{ config(
    materialized='incremental',
    unique_key=['user_id', 'group_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_absent('groups', 'group_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__groups', 'group_id', 'cast(_dlt_load_id as numeric)') }}
select
    latest.user_id,
    latest.group_id,
    latest.group_name,
    latest.group_type,
    latest.distribution,
    latest.default_fub_user_id,
    latest.claim_window_seconds,
    latest.is_primary,
    latest.members,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.group_id = latest.group_id
where existing.group_id is null
   or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
{% endif %}
