{{ config(
    materialized='incremental',
    unique_key=['user_id', 'appointment_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ flag_deleted_fub_rows('appointments', 'appointment_id') }}",
    ],
) }}
-- One row per agent and FUB appointment: the newest version of each in the loads this mart has not
-- merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id, appointment_id) when it
-- is at least as new as the row held (by FUB's update time). Deletions are flags (is_deleted,
-- deleted_at: flag_deleted_fub_rows, after each merge).

with

new_versions as (

    select * from {{ ref('stg_fub__appointments') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})

),

latest as (

    -- the newest version per agent and id: newest FUB update first, then the newest load
    select distinct on (user_id, appointment_id) *
    from new_versions
    order by user_id, appointment_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.appointment_id = latest.appointment_id
    where existing.appointment_id is null
       or latest.updated_at >= existing.updated_at
       or existing.updated_at is null
    {% endif %}

),

final as (

    select
        user_id,
        appointment_id,
        created_at,
        updated_at,
        title,
        description,
        starts_at,
        ends_at,
        timezone,
        is_all_day,
        location,
        appointment_type,
        outcome,
        invitees,
        false as is_deleted,
        cast(null as timestamptz) as deleted_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
