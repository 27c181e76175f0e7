-- Every loaded version of transaction participants (from transaction detail).
-- One row per raw row (raw_rezen.transaction_participants), typed and renamed. The newest version
-- per participant is kept by marts/brokerage/transaction_participants.sql.

with

source as (

    select
        user_id,
        id,
        transaction_id,
        yenta_user_id,
        participant_role,
        external,
        first_name,
        last_name,
        payment__percent,
        payment__amount__amount,
        payment__amount__currency,
        payment__paid,
        transaction_updated_at,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'transaction_participants') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as participant_id,
        cast(transaction_id as text) as transaction_id,
        cast(yenta_user_id as text) as agent_id,
        cast(participant_role as text) as participant_role,
        cast(coalesce(external, false) as boolean) as is_external,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(payment__percent as numeric) as payment_percent,
        cast(payment__amount__amount as numeric) as payment_amount,
        cast(payment__amount__currency as text) as payment_currency,
        cast(coalesce(payment__paid, false) as boolean) as is_paid,
        {{ rezen_timestamp('transaction_updated_at') }} as transaction_updated_at,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
