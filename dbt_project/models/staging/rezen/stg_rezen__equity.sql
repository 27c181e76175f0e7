-- Every loaded version of equity purchases and awards (endpoint chosen by us: not documented).
-- One row per raw row (raw_rezen.equity), typed and renamed. The newest version per record is
-- kept by marts/brokerage/equity.sql.

with

source as (

    select
        user_id,
        id,
        type,
        amount__amount,
        amount__currency,
        share_price__amount,
        shares,
        purchased_at,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'equity') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as equity_id,
        cast(type as text) as equity_type,
        cast(amount__amount as numeric) as amount,
        cast(amount__currency as text) as currency,
        cast(share_price__amount as numeric) as share_price,
        cast(shares as numeric) as shares,
        {{ rezen_timestamp('purchased_at') }} as purchased_at,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
