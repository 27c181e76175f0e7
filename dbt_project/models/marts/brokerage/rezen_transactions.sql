{{ config(materialized='incremental', unique_key=['user_id', 'transaction_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- reZEN transactions, latest version: one row per user_id and transaction (lifecycle
-- open/closed/terminated). Interface for the unified transactions mart. The newest version of each
-- in the loads this mart has not merged yet (unprocessed_loads, processed_loads.sql), merged on
-- (user_id, transaction_id) when it is at least as new as the row held (by updated_at).

with

new_versions as (

    select * from {{ ref('stg_rezen__transactions') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_rezen') }})

),

latest as (

    -- the newest version per key: the newest updated_at first, then the newest load
    select distinct on (user_id, transaction_id) *
    from new_versions
    order by user_id, transaction_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing using (user_id, transaction_id)
    where existing.transaction_id is null
       or existing.updated_at is null
       or latest.updated_at >= existing.updated_at
    {% endif %}

),

final as (

    select
        user_id,
        transaction_id,
        code,
        transaction_type,
        lifecycle,
        lifecycle_state,
        street_address,
        unit,
        city,
        state,
        zip,
        one_line_address,
        side,
        price_amount,
        price_currency,
        gross_commission_amount,
        gross_commission_currency,
        sale_commission_percent,
        close_date,
        closed_at,
        created_at,
        updated_at,
        loaded_at
    from newer_than_held

)

select * from final
