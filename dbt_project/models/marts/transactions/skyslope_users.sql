{{ config(
    materialized='incremental',
    unique_key=['user_id', 'user_guid'],
    on_schema_change='append_new_columns',
    post_hook=["{{ mark_loads_processed('raw_skyslope') }}"],
) }}
-- One row per agent and user of the agent's SkySlope account. The newest version of each in the
-- loads this mart has not merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id,
-- user_guid) when it is from a load at least as new as the row's.

with

new_versions as (

    select * from {{ ref('stg_skyslope__users') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_skyslope') }})

),

latest as (

    -- the newest version per agent and id: the newest load
    select distinct on (user_id, user_guid) *
    from new_versions
    order by user_id, user_guid, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.user_guid = latest.user_guid
    where existing.user_guid is null
       or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
    {% endif %}

),

final as (

    select
        user_id,
        user_guid,
        first_name,
        last_name,
        email,
        phone,
        public_id,
        user_type,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
