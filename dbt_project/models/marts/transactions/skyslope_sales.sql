{{ config(
    materialized='incremental',
    unique_key=['user_id', 'sale_guid'],
    on_schema_change='append_new_columns',
    post_hook=["{{ mark_loads_processed('raw_skyslope') }}"],
) }}
-- One row per agent and SkySlope sale file (a transaction). The newest version of each in the
-- loads this mart has not merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id,
-- sale_guid) when it is at least as new as the row held (by modifiedOn).

with

new_versions as (

    select * from {{ ref('stg_skyslope__sales') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_skyslope') }})

),

latest as (

    -- the newest version per agent and id: newest modifiedOn first, then the newest load
    select distinct on (user_id, sale_guid) *
    from new_versions
    order by user_id, sale_guid, modified_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.sale_guid = latest.sale_guid
    where existing.sale_guid is null
       or existing.modified_at is null
       or latest.modified_at >= existing.modified_at
    {% endif %}

),

final as (

    select
        user_id,
        sale_guid,
        listing_guid,
        agent_guid,
        status,
        lifecycle,
        deal_type,
        side,
        mls_number,
        escrow_number,
        street_address,
        unit,
        city,
        state,
        zip,
        sale_price,
        listing_price,
        contract_accepted_date,
        escrow_closing_date,
        actual_closing_date,
        close_date,
        dead_date,
        created_at,
        modified_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
