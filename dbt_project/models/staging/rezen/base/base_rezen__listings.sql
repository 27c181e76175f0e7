{{ config(materialized='ephemeral') }}
-- Every loaded version of the agent's reZEN listing transactions (per lifecycle list).
with raw_rows as (
    {{ rezen_raw('listings', {
            'id': 'text',
            'user_id': 'bigint',
            'code': 'text',
            'transaction_type': 'text',
            'representation_type': 'text',
            'lifecycle_group': 'text',
            'lifecycle_state__state': 'text',
            'address__one_line': 'text',
            'address__street': 'text',
            'address__street2': 'text',
            'address__city': 'text',
            'address__state': 'text',
            'address__zip': 'text',
            'created_at': 'text',
            'updated_at': 'text',
            'closed_at': 'text',
            'sky_slope_actual_closing_date': 'text',
            'rezen_closed_at': 'text',
            'listing_price__amount': 'numeric',
            'listing_price__currency': 'text',
            'listing_date': 'text',
            'listing_expiration_date': 'text'
        }) }}
)
select
    user_id,
    id as listing_id,
    code as code,
    lower(lifecycle_group) as lifecycle,
    lifecycle_state__state as lifecycle_state,
    address__street as street_address,
    nullif(regexp_replace(address__street2, '^\s*(unit|apt\.?|suite|#)\s*', '', 'i'), '') as unit,
    address__city as city,
    {{ rezen_state_code('address__state') }} as state,
    address__zip as zip,
    address__one_line as one_line_address,
    lower(coalesce(representation_type, 'SELLER')) as side,
    listing_price__amount as price_amount,
    listing_price__currency as price_currency,
    {{ rezen_date('listing_date') }} as listing_date,
    {{ rezen_date('listing_expiration_date') }} as expiration_date,
    {{ rezen_timestamp('closed_at') }} as closed_at,
    {{ rezen_date('closed_at') }} as close_date,
    {{ rezen_timestamp('created_at') }} as created_at,
    {{ rezen_timestamp('updated_at') }} as updated_at,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
