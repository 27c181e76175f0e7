{{ config(
    materialized='incremental',
    unique_key=['user_id', 'stage_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ flag_fub_rows_not_served('stages', 'stage_id') }}",
    ],
) }}
-- One row per agent and FUB person stage: the newest version of each in the loads this mart has
-- not merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id, stage_id) when it
-- is from a load at least as new as the row's. A stage no longer served by the agent's newest full
-- read is flagged deleted (flag_fub_rows_not_served, after each merge).

with

new_versions as (

    select * from {{ ref('stg_fub__stages') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})

),

latest as (

    -- the newest version per agent and id: the newest load (a full read every run)
    select distinct on (user_id, stage_id) *
    from new_versions
    order by user_id, stage_id, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.stage_id = latest.stage_id
    where existing.stage_id is null
       or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
    {% endif %}

),

final as (

    select
        user_id,
        stage_id,
        stage_name,
        order_weight,
        is_protected,
        description,
        people_count,
        false as is_deleted,
        cast(null as timestamptz) as deleted_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
