{{ config(materialized='table') }}
-- unified listings: one row per source record (reZEN and SkySlope), with the cross-source deal_key
select
    source,
    user_id,
    record_id,
    deal_key,
    match_status,
    lifecycle,
    street_address,
    unit,
    city,
    state,
    zip,
    side,
    price_amount,
    price_currency,
    close_date,
    created_at,
    updated_at
from {{ ref('int_deals__keyed_records') }}
where record_kind = 'listing'
