{{ config(
    materialized='incremental',
    unique_key=['user_id', 'stage_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_absent('stages', 'stage_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__stages', 'stage_id', 'cast(_dlt_load_id as numeric)') }}
select
    latest.user_id,
    latest.stage_id,
    latest.stage_name,
    latest.order_weight,
    latest.is_protected,
    latest.description,
    latest.people_count,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.stage_id = latest.stage_id
where existing.stage_id is null
   or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
{% endif %}
