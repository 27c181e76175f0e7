{{ config(
    materialized='incremental',
    unique_key=['user_id', 'fub_user_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ flag_fub_rows_not_served('users', 'fub_user_id') }}",
    ],
) }}
-- One row per agent and user of the agent's FUB account: the newest version of each in the loads
-- this mart has not merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id,
-- fub_user_id) when it is at least as new as the row held (by FUB's update time). A user no longer
-- served by the agent's newest full read is flagged deleted (flag_fub_rows_not_served, after each
-- merge).

with

new_versions as (

    select * from {{ ref('stg_fub__users') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})

),

latest as (

    -- the newest version per agent and id: newest FUB update first, then the newest load
    select distinct on (user_id, fub_user_id) *
    from new_versions
    order by user_id, fub_user_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.fub_user_id = latest.fub_user_id
    where existing.fub_user_id is null
       or latest.updated_at >= existing.updated_at
       or existing.updated_at is null
    {% endif %}

),

final as (

    select
        user_id,
        fub_user_id,
        created_at,
        updated_at,
        full_name,
        first_name,
        last_name,
        email,
        phone,
        user_role,
        user_status,
        timezone,
        is_owner,
        false as is_deleted,
        cast(null as timestamptz) as deleted_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
