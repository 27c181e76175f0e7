{%- set affected = per_agent_incremental(['raw_rezen', 'raw_skyslope']) %}
-- one row per real-world deal: a matched reZEN + SkySlope pair is one deal; reZEN facts win;
-- recomputed only for agents with reZEN/SkySlope loads this mart has not processed
with records as (
    select * from {{ ref('int_deals__keyed_records') }} where {{ affected }}
), rezen as (
    select * from records where source = 'rezen'
), skyslope as (
    select * from records where source = 'skyslope'
), deals as (
    select distinct user_id, record_kind, deal_key from records
)
select
    deals.deal_key,
    deals.user_id,
    deals.record_kind as deal_kind,
    rezen.record_id is not null as in_rezen,
    skyslope.record_id is not null as in_skyslope,
    rezen.record_id as rezen_record_id,
    skyslope.record_id as skyslope_record_id,
    coalesce(rezen.lifecycle, skyslope.lifecycle) as lifecycle,
    coalesce(rezen.street_address, skyslope.street_address) as street_address,
    coalesce(rezen.unit, skyslope.unit) as unit,
    coalesce(rezen.city, skyslope.city) as city,
    coalesce(rezen.state, skyslope.state) as state,
    coalesce(rezen.zip, skyslope.zip) as zip,
    coalesce(rezen.side, skyslope.side) as side,
    coalesce(rezen.price_amount, skyslope.price_amount) as price_amount,
    coalesce(rezen.price_currency, skyslope.price_currency) as price_currency,
    coalesce(rezen.close_date, skyslope.close_date) as close_date,
    least(rezen.created_at, skyslope.created_at) as created_at,
    greatest(rezen.updated_at, skyslope.updated_at) as updated_at
from deals
left join rezen on rezen.deal_key = deals.deal_key
left join skyslope on skyslope.deal_key = deals.deal_key
