{%- set affected = per_agent_incremental(['raw_rezen', 'raw_skyslope']) %}
-- unified listings: one row per source record (reZEN and SkySlope), with the cross-source deal_key;
-- recomputed only for agents with reZEN/SkySlope loads this mart has not processed
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
  and {{ affected }}
