{{ config(
    materialized='incremental',
    unique_key=['user_id', 'deal_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ flag_deleted_fub_rows('deals', 'deal_id') }}",
    ],
) }}
-- One row per agent and FUB deal: the newest version of each in the loads this mart has not merged
-- yet (unprocessed_loads, processed_loads.sql), merged on (user_id, deal_id) when it is from a
-- load at least as new as the row's. Deletions are flags (is_deleted, deleted_at:
-- flag_deleted_fub_rows, after each merge).

with

new_versions as (

    select * from {{ ref('stg_fub__deals') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})

),

latest as (

    -- the newest version per agent and id: the newest load (FUB serves no update time for it)
    select distinct on (user_id, deal_id) *
    from new_versions
    order by user_id, deal_id, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.deal_id = latest.deal_id
    where existing.deal_id is null
       or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
    {% endif %}

),

final as (

    select
        user_id,
        deal_id,
        deal_name,
        deal_type,
        deal_status,
        price,
        created_at,
        projected_close_date,
        pipeline_id,
        pipeline_name,
        deal_stage_id,
        deal_stage_name,
        entered_stage_at,
        commission_value,
        agent_commission,
        team_commission,
        time_to_close_days,
        people,
        users,
        custom_fields,
        false as is_deleted,
        cast(null as timestamptz) as deleted_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
