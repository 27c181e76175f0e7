{{ config(materialized='ephemeral') }}
with raw_listings as (
    {% if relation_exists('raw_skyslope', 'listings') %}
    select user_id, listing_guid, cast(file as jsonb) as file, _dlt_load_id
      from {{ source('skyslope', 'listings') }}
    {% else %}
    select cast(null as bigint) as user_id, cast(null as text) as listing_guid,
           cast(null as jsonb) as file, cast(null as text) as _dlt_load_id
     where false
    {% endif %}
), typed as (
    select
        cast(user_id as bigint) as user_id,
        listing_guid,
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
        file,
        _dlt_load_id
    from raw_listings
)
select
    typed.*,
    case
        when lower(status) in ('closed', 'sold') then 'CLOSED'
        when lower(status) in ('canceled', 'cancelled', 'expired', 'withdrawn') then 'TERMINATED'
        else 'OPEN'
    end as lifecycle,
    nullif(concat_ws(' ', street_number, street_name), '') as street_address
from typed
