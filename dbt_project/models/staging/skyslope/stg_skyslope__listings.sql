-- Every loaded version of a SkySlope listing file: one row per raw row (raw_skyslope.listings),
-- the fields read out of the file as served and cleaned of SkySlope's quirks (skyslope_* macros:
-- control characters, 0001-01-01 null dates, datetimes without a timezone). The newest version
-- per file is kept by marts/transactions/skyslope_listings.sql.

with

source as (

    select
        user_id,
        listing_guid,
        file,
        _dlt_load_id
    from {{ source_or_empty('skyslope', 'listings') }}

),

typed as (

    select
        cast(user_id as bigint) as user_id,
        cast(listing_guid as text) as listing_guid,
        {{ skyslope_text("file->>'agentGuid'") }} as agent_guid,
        {{ skyslope_text("file->>'status'") }} as status,
        {{ skyslope_text("file->>'mlsNumber'") }} as mls_number,
        {{ skyslope_text("file->'property'->>'streetNumber'") }} as street_number,
        {{ skyslope_text("file->'property'->>'streetAddress'") }} as street_name,
        {{ skyslope_text("file->'property'->>'unit'") }} as unit,
        {{ skyslope_text("file->'property'->>'city'") }} as city,
        {{ skyslope_text("file->'property'->>'state'") }} as state,
        {{ skyslope_text("file->'property'->>'zip'") }} as zip,
        {{ skyslope_number("file->>'listingPrice'") }} as listing_price,
        {{ skyslope_date("file->>'listingDate'") }} as listing_date,
        {{ skyslope_date("file->>'expirationDate'") }} as expiration_date,
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
            when lower(status) in ('closed', 'sold') then 'CLOSED'
            when lower(status) in ('canceled', 'cancelled', 'expired', 'withdrawn') then 'TERMINATED'
            else 'OPEN'
        end as lifecycle,
        nullif(concat_ws(' ', street_number, street_name), '') as street_address
    from typed

)

select * from final
