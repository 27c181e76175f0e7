{{ config(materialized='view') }}
-- every reZEN and SkySlope transaction/listing as one shape, with normalised matching keys
with rezen_transactions as (
    select
        'transaction' as record_kind,
        'rezen' as source,
        user_id,
        cast(transaction_id as text) as record_id,
        lower(lifecycle) as lifecycle,
        street_address,
        unit,
        city,
        state,
        zip,
        lower(side) as side,
        price_amount,
        coalesce(price_currency, 'USD') as price_currency,
        close_date,
        created_at,
        updated_at
    from {{ ref('rezen_transactions') }}
), rezen_listings as (
    select
        'listing', 'rezen', user_id, cast(listing_id as text), lower(lifecycle), street_address, unit,
        city, state, zip, coalesce(lower(side), 'seller'), price_amount,
        coalesce(price_currency, 'USD'), close_date, created_at, updated_at
    from {{ ref('rezen_listings') }}
), skyslope_sales as (
    select
        'transaction', 'skyslope', user_id, sale_guid, lower(lifecycle), street_address, unit,
        city, state, zip, lower(side), coalesce(sale_price, listing_price),
        -- SkySlope prices are plain numbers without a currency (docs/vendors/skyslope.md §4):
        -- USD assumed
        'USD', close_date, created_at, modified_at
    from {{ ref('skyslope_sales') }}
), skyslope_listings as (
    select
        'listing', 'skyslope', user_id, listing_guid, lower(lifecycle), street_address, unit,
        city, state, zip, 'seller', listing_price, 'USD', cast(null as date), created_at, modified_at
    from {{ ref('skyslope_listings') }}
), all_records as (
    select * from rezen_transactions
    union all select * from rezen_listings
    union all select * from skyslope_sales
    union all select * from skyslope_listings
)
select
    all_records.*,
    {{ deal_street_key('all_records.street_address') }} as street_key,
    {{ deal_unit_key('all_records.street_address', 'all_records.unit') }} as unit_key,
    {{ deal_zip_key('all_records.zip') }} as zip_key
from all_records
