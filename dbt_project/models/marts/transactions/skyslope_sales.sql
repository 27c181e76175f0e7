{{ config(
    materialized='incremental',
    unique_key=['user_id', 'sale_guid'],
    on_schema_change='append_new_columns',
    post_hook=["{{ mark_loads_processed('raw_skyslope') }}"],
) }}
-- only loads this mart has not merged yet; the newest version per file wins
with new_versions as (
    select *
      from {{ ref('base_skyslope__sales') }}
     where _dlt_load_id in ({{ unprocessed_loads('raw_skyslope') }})
), latest as (
    select distinct on (user_id, sale_guid) *
      from new_versions
     order by user_id, sale_guid, modified_at desc nulls last, cast(_dlt_load_id as numeric) desc
)
select
    latest.user_id,
    latest.sale_guid,
    latest.listing_guid,
    latest.agent_guid,
    latest.status,
    latest.lifecycle,
    latest.deal_type,
    latest.side,
    latest.mls_number,
    latest.escrow_number,
    latest.street_address,
    latest.unit,
    latest.city,
    latest.state,
    latest.zip,
    latest.sale_price,
    latest.listing_price,
    latest.contract_accepted_date,
    latest.escrow_closing_date,
    latest.actual_closing_date,
    latest.close_date,
    latest.dead_date,
    latest.created_at,
    latest.modified_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.sale_guid = latest.sale_guid
where existing.sale_guid is null
   or existing.modified_at is null
   or latest.modified_at >= existing.modified_at
{% endif %}
