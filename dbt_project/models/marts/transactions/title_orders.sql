{{ config(
    materialized='incremental',
    unique_key=['user_id', 'order_id'],
    on_schema_change='append_new_columns',
    post_hook=["{{ mark_loads_processed('raw_qualia') }}"],
) }}
-- One row per agent and Qualia title order. The newest version of each in the loads this mart has
-- not merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id, order_id) when it
-- is from a load at least as new as the row's.

with

new_versions as (

    select * from {{ ref('stg_qualia__orders') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_qualia') }})

),

latest as (

    -- the newest version per agent and id: the newest load (Qualia serves no modified time)
    select distinct on (user_id, order_id) *
    from new_versions
    order by user_id, order_id, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.order_id = latest.order_id
    where existing.order_id is null
       or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
    {% endif %}

),

final as (

    select
        user_id,
        order_id,
        order_number,
        status,
        opened_at,
        closed_at,
        purchase_price,
        loan_amount,
        loan_type,
        cash_only,
        external_reference_number,
        settlement_agency_name,
        address_line_1,
        address_line_2,
        city,
        state,
        zipcode,
        current_stage,
        current_stage_key,
        parties,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
