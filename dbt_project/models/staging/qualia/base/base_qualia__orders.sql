{{ config(materialized='ephemeral') }}
with raw_orders as (
    {% if relation_exists('raw_qualia', 'orders') %}
    select user_id, order_id, cast("order" as jsonb) as payload, _dlt_load_id
      from {{ source('qualia', 'orders') }}
    {% else %}
    select cast(null as bigint) as user_id, cast(null as text) as order_id,
           cast(null as jsonb) as payload, cast(null as text) as _dlt_load_id
     where false
    {% endif %}
)
select
    cast(user_id as bigint) as user_id,
    order_id,
    payload->>'order_number' as order_number,
    lower(payload->>'status') as status,
    cast(nullif(payload->>'open_date', '') as timestamptz) as opened_at,
    cast(nullif(payload->>'close_date', '') as timestamptz) as closed_at,
    cast(payload->>'purchase_price' as numeric) as purchase_price,
    cast(payload->>'loan_amount' as numeric) as loan_amount,
    payload->>'loan_type' as loan_type,
    cast(payload->>'cash_only' as boolean) as cash_only,
    payload->>'external_reference_number' as external_reference_number,
    payload->>'settlement_agency_name' as settlement_agency_name,
    payload->'properties'->0->>'address_line_1' as address_line_1,
    payload->'properties'->0->>'address_line_2' as address_line_2,
    payload->'properties'->0->>'city' as city,
    payload->'properties'->0->>'state' as state,
    payload->'properties'->0->>'zipcode' as zipcode,
    payload->'progress'->>'current_stage' as current_stage,
    payload->'progress'->>'current_stage_key' as current_stage_key,
    payload->'properties' as properties,
    payload->'parties' as parties,
    _dlt_load_id
from raw_orders
