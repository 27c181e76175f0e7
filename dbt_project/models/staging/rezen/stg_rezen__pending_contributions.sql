-- Every loaded version of pending (not yet paid) contributions.
-- One row per raw row (raw_rezen.pending_contributions), typed and renamed. The agent's newest
-- load is its current pending list: marts/brokerage/contributions.sql.

with

source as (

    select
        user_id,
        id,
        contributor_yenta_id,
        contributor_first_name,
        contributor_last_name,
        tier,
        transaction_id,
        amount__amount,
        amount__currency,
        transaction_closed_at,
        outgoing_payment_id,
        status,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'pending_contributions') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as contribution_id,
        cast(contributor_yenta_id as text) as contributor_id,
        cast(contributor_first_name as text) as contributor_first_name,
        cast(contributor_last_name as text) as contributor_last_name,
        cast(tier as integer) as tier,
        cast(transaction_id as text) as transaction_id,
        cast(amount__amount as numeric) as amount,
        cast(amount__currency as text) as currency,
        {{ rezen_timestamp('transaction_closed_at') }} as transaction_closed_at,
        cast(outgoing_payment_id as text) as payment_id,
        cast(status as text) as contribution_status,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
