{{ config(
    materialized='incremental',
    unique_key=['user_id', 'order_id'],
    on_schema_change='append_new_columns',
    post_hook=["{{ mark_loads_processed('raw_qualia') }}"],
) }}
-- only loads this mart has not merged yet; the newest load of an order wins
with new_versions as (
    select *
      from {{ ref('base_qualia__orders') }}
     where _dlt_load_id in ({{ unprocessed_loads('raw_qualia') }})
), latest as (
    select distinct on (user_id, order_id) *
      from new_versions
     order by user_id, order_id, cast(_dlt_load_id as numeric) desc
)
select
    latest.user_id,
    latest.order_id,
    latest.order_number,
    latest.status,
    latest.opened_at,
    latest.closed_at,
    latest.purchase_price,
    latest.loan_amount,
    latest.loan_type,
    latest.cash_only,
    latest.external_reference_number,
    latest.settlement_agency_name,
    latest.address_line_1,
    latest.address_line_2,
    latest.city,
    latest.state,
    latest.zipcode,
    latest.current_stage,
    latest.current_stage_key,
    latest.parties,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.order_id = latest.order_id
where existing.order_id is null
   or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
{% endif %}
