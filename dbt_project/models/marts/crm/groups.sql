{{ config(
    materialized='incremental',
    unique_key=['user_id', 'group_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ flag_fub_rows_not_served('groups', 'group_id') }}",
    ],
) }}
-- One row per agent and FUB lead-routing group: the newest version of each in the loads this mart
-- has not merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id, group_id) when
-- it is from a load at least as new as the row's. A group no longer served by the agent's newest
-- full read is flagged deleted (flag_fub_rows_not_served, after each merge).

with

new_versions as (

    select * from {{ ref('stg_fub__groups') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})

),

latest as (

    -- the newest version per agent and id: the newest load (a full read every run)
    select distinct on (user_id, group_id) *
    from new_versions
    order by user_id, group_id, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.group_id = latest.group_id
    where existing.group_id is null
       or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
    {% endif %}

),

final as (

    select
        user_id,
        group_id,
        group_name,
        group_type,
        distribution,
        default_fub_user_id,
        claim_window_seconds,
        is_primary,
        members,
        false as is_deleted,
        cast(null as timestamptz) as deleted_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
