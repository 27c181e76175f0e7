{%- set affected = per_agent_incremental(['raw_rezen', 'raw_skyslope', 'raw_qualia']) %}
-- every Qualia title order with the real-world deal (reZEN / SkySlope transaction) on the same
-- property, when there is one: same agent, normalised street, unit and 5-digit ZIP; among several
-- deals at that address the one whose close date is nearest the order's open date wins;
-- recomputed only for agents with reZEN/SkySlope/Qualia loads this mart has not processed
with orders as (
    select
        user_id,
        order_id,
        order_number,
        status,
        opened_at,
        address_line_1,
        {{ deal_street_key('address_line_1') }} as street_key,
        {{ deal_unit_key('address_line_1', 'address_line_2') }} as unit_key,
        {{ deal_zip_key('zipcode') }} as zip_key
    from {{ ref('title_orders') }}
    where {{ affected }}
), deal_addresses as (
    select distinct on (deal_key) deal_key, user_id, street_key, unit_key, zip_key, close_date
      from {{ ref('int_deals__keyed_records') }}
     where record_kind = 'transaction' and street_key is not null and {{ affected }}
     order by deal_key, source
), candidates as (
    select
        orders.user_id,
        orders.order_id,
        deal_addresses.deal_key,
        row_number() over (
            partition by orders.user_id, orders.order_id
            order by abs(coalesce(deal_addresses.close_date - cast(orders.opened_at as date), 0)),
                     deal_addresses.deal_key
        ) as nearest
    from orders
    join deal_addresses
        on deal_addresses.user_id = orders.user_id
       and deal_addresses.street_key = orders.street_key
       and deal_addresses.unit_key = orders.unit_key
       and deal_addresses.zip_key = orders.zip_key
)
select
    orders.user_id,
    orders.order_id,
    orders.order_number,
    orders.status,
    orders.address_line_1,
    candidates.deal_key
from orders
left join candidates
    on candidates.user_id = orders.user_id
   and candidates.order_id = orders.order_id
   and candidates.nearest = 1
