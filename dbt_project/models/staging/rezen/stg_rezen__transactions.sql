-- Every loaded version of the agent's reZEN transactions (per lifecycle list).
-- One row per raw row (raw_rezen.transactions), typed and renamed. The newest version per
-- transaction is kept by marts/brokerage/rezen_transactions.sql.

with

source as (

    select
        user_id,
        id,
        code,
        transaction_type,
        lifecycle_group,
        lifecycle_state__state,
        address__street,
        address__street2,
        address__city,
        address__state,
        address__zip,
        address__one_line,
        representation_type,
        price__amount,
        price__currency,
        gross_commission__amount,
        gross_commission__currency,
        sale_commission_percent,
        closed_at,
        rezen_closed_at,
        sky_slope_actual_closing_date,
        closing_date_estimated,
        created_at,
        updated_at,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'transactions') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as transaction_id,
        cast(code as text) as code,
        cast(transaction_type as text) as transaction_type,
        lower(lifecycle_group) as lifecycle,
        cast(lifecycle_state__state as text) as lifecycle_state,
        cast(address__street as text) as street_address,
        nullif(regexp_replace(address__street2, '^\s*(unit|apt\.?|suite|#)\s*', '', 'i'), '') as unit,
        cast(address__city as text) as city,
        {{ rezen_state_code('address__state') }} as state,
        cast(address__zip as text) as zip,
        cast(address__one_line as text) as one_line_address,
        lower(representation_type) as side,
        cast(price__amount as numeric) as price_amount,
        cast(price__currency as text) as price_currency,
        cast(gross_commission__amount as numeric) as gross_commission_amount,
        cast(gross_commission__currency as text) as gross_commission_currency,
        cast(sale_commission_percent as numeric) as sale_commission_percent,
        {{ rezen_timestamp('coalesce(cast(closed_at as text), cast(rezen_closed_at as text))') }} as closed_at,
        coalesce({{ rezen_date('sky_slope_actual_closing_date') }}, {{ rezen_date('closed_at') }}, {{ rezen_date('rezen_closed_at') }}, {{ rezen_date('closing_date_estimated') }}) as close_date,
        {{ rezen_timestamp('created_at') }} as created_at,
        {{ rezen_timestamp('updated_at') }} as updated_at,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
