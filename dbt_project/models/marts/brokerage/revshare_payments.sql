{{ config(materialized='incremental', unique_key=['user_id', 'payment_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- Revenue-share payments to the agent: one row per user_id and payment. The newest version of each
-- in the loads this mart has not merged yet (unprocessed_loads, processed_loads.sql), merged on
-- (user_id, payment_id) when it is from a load at least as new as the row's.

with

new_versions as (

    select * from {{ ref('stg_rezen__revshare_payments') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_rezen') }})

),

latest as (

    -- the newest version per key: the newest load
    select distinct on (user_id, payment_id) *
    from new_versions
    order by user_id, payment_id, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing using (user_id, payment_id)
    where existing.payment_id is null
       or existing.loaded_at is null
       or latest.loaded_at >= existing.loaded_at
    {% endif %}

),

final as (

    select
        user_id,
        payment_id,
        amount,
        currency,
        paid_at,
        payment_status,
        contribution_count,
        loaded_at
    from newer_than_held

)

select * from final
