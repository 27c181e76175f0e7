-- Every loaded version of revenue-share payments to the agent.
-- One row per raw row (raw_rezen.revshare_payments), typed and renamed. The newest version per
-- payment is kept by marts/brokerage/revshare_payments.sql.

with

source as (

    select
        user_id,
        id,
        amount__amount,
        amount__currency,
        paid_at,
        status,
        contribution_count,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'revshare_payments') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as payment_id,
        cast(amount__amount as numeric) as amount,
        cast(amount__currency as text) as currency,
        {{ rezen_timestamp('paid_at') }} as paid_at,
        cast(status as text) as payment_status,
        cast(contribution_count as integer) as contribution_count,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
