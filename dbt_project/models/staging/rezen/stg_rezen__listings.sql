-- Every loaded version of the agent's reZEN listing transactions (per lifecycle list).
-- One row per raw row (raw_rezen.listings), typed and renamed. The newest version per listing is
-- kept by marts/brokerage/rezen_listings.sql.

with

source as (

    select
        user_id,
        id,
        code,
        lifecycle_group,
        lifecycle_state__state,
        address__street,
        address__street2,
        address__city,
        address__state,
        address__zip,
        address__one_line,
        representation_type,
        listing_price__amount,
        listing_price__currency,
        listing_date,
        listing_expiration_date,
        closed_at,
        created_at,
        updated_at,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'listings') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as listing_id,
        cast(code as text) as code,
        lower(lifecycle_group) as lifecycle,
        cast(lifecycle_state__state as text) as lifecycle_state,
        cast(address__street as text) as street_address,
        nullif(regexp_replace(address__street2, '^\s*(unit|apt\.?|suite|#)\s*', '', 'i'), '') as unit,
        cast(address__city as text) as city,
        {{ rezen_state_code('address__state') }} as state,
        cast(address__zip as text) as zip,
        cast(address__one_line as text) as one_line_address,
        lower(coalesce(representation_type, 'SELLER')) as side,
        cast(listing_price__amount as numeric) as price_amount,
        cast(listing_price__currency as text) as price_currency,
        {{ rezen_date('listing_date') }} as listing_date,
        {{ rezen_date('listing_expiration_date') }} as expiration_date,
        {{ rezen_timestamp('closed_at') }} as closed_at,
        {{ rezen_date('closed_at') }} as close_date,
        {{ rezen_timestamp('created_at') }} as created_at,
        {{ rezen_timestamp('updated_at') }} as updated_at,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
