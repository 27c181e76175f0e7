-- Every loaded version of a SkySlope sale file (a transaction): one row per raw row
-- (raw_skyslope.sales), the fields read out of the file as served and cleaned of SkySlope's quirks
-- (skyslope_* macros: control characters, 0001-01-01 null dates, datetimes without a timezone).
-- The newest version per file is kept by marts/transactions/skyslope_sales.sql.

with

source as (

    select
        user_id,
        sale_guid,
        file,
        _dlt_load_id
    from {{ source_or_empty('skyslope', 'sales') }}

),

typed as (

    select
        cast(user_id as bigint) as user_id,
        cast(sale_guid as text) as sale_guid,
        {{ skyslope_text("file->>'listingGuid'") }} as listing_guid,
        {{ skyslope_text("file->>'agentGuid'") }} as agent_guid,
        {{ skyslope_text("file->>'status'") }} as status,
        {{ skyslope_text("file->>'dealType'") }} as deal_type,
        {{ skyslope_text("file->>'mlsNumber'") }} as mls_number,
        {{ skyslope_text("file->>'escrowNumber'") }} as escrow_number,
        {{ skyslope_text("file->'property'->>'streetNumber'") }} as street_number,
        {{ skyslope_text("file->'property'->>'streetAddress'") }} as street_name,
        {{ skyslope_text("file->'property'->>'unit'") }} as unit,
        {{ skyslope_text("file->'property'->>'city'") }} as city,
        {{ skyslope_text("file->'property'->>'state'") }} as state,
        {{ skyslope_text("file->'property'->>'zip'") }} as zip,
        {{ skyslope_number("file->>'salePrice'") }} as sale_price,
        {{ skyslope_number("file->>'listingPrice'") }} as listing_price,
        {{ skyslope_date("coalesce(file->>'contractAcceptanceDate', file->>'contractAcceptedDate')") }} as contract_accepted_date,
        {{ skyslope_date("file->>'escrowClosingDate'") }} as escrow_closing_date,
        {{ skyslope_date("file->>'actualClosingDate'") }} as actual_closing_date,
        {{ skyslope_date("file->>'deadDate'") }} as dead_date,
        {{ skyslope_timestamp("file->>'createdOn'") }} as created_at,
        {{ skyslope_timestamp("file->>'modifiedOn'") }} as modified_at,
        cast(file as jsonb) as file,
        cast(_dlt_load_id as text) as _dlt_load_id
    from source

),

final as (

    select
        typed.*,
        case
            when lower(status) = 'closed' then 'CLOSED'
            when lower(status) in ('canceled', 'cancelled', 'dead', 'expired', 'withdrawn') then 'TERMINATED'
            else 'OPEN'
        end as lifecycle,
        case
            when deal_type ilike 'purchase%' then 'BUYER'
            when deal_type ilike 'sale%' or deal_type ilike 'listing%' then 'SELLER'
        end as side,
        nullif(concat_ws(' ', street_number, street_name), '') as street_address,
        case
            when lower(status) in ('canceled', 'cancelled', 'dead', 'expired', 'withdrawn') then null
            else coalesce(actual_closing_date, escrow_closing_date)
        end as close_date
    from typed

)

select * from final
