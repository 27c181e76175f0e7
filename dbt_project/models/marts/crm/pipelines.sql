{{ config(
    materialized='incremental',
    unique_key=['user_id', 'pipeline_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_absent('pipelines', 'pipeline_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__pipelines', 'pipeline_id', 'cast(_dlt_load_id as numeric)') }}
select
    latest.user_id,
    latest.pipeline_id,
    latest.pipeline_name,
    latest.description,
    latest.order_weight,
    latest.deal_stages,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.pipeline_id = latest.pipeline_id
where existing.pipeline_id is null
   or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
{% endif %}
