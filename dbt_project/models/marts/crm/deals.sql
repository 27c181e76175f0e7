{{ config(
    materialized='incremental',
    unique_key=['user_id', 'deal_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_deletions('deals', 'deal_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__deals', 'deal_id', 'cast(_dlt_load_id as numeric)') }}
select
    latest.user_id,
    latest.deal_id,
    latest.deal_name,
    latest.deal_type,
    latest.deal_status,
    latest.price,
    latest.created_at,
    latest.projected_close_date,
    latest.pipeline_id,
    latest.pipeline_name,
    latest.deal_stage_id,
    latest.deal_stage_name,
    latest.entered_stage_at,
    latest.commission_value,
    latest.agent_commission,
    latest.team_commission,
    latest.time_to_close_days,
    latest.people,
    latest.users,
    latest.custom_fields,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.deal_id = latest.deal_id
where existing.deal_id is null
   or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
{% endif %}
