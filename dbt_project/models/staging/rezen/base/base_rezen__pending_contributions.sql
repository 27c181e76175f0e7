{{ config(materialized='ephemeral') }}
-- Every loaded version of pending (not yet paid) contributions.
with raw_rows as (
    {{ rezen_raw('pending_contributions', {
            'id': 'text',
            'user_id': 'bigint',
            'contributor_yenta_id': 'text',
            'contributor_first_name': 'text',
            'contributor_last_name': 'text',
            'tier': 'integer',
            'transaction_id': 'text',
            'amount__amount': 'numeric',
            'amount__currency': 'text',
            'transaction_closed_at': 'text',
            'outgoing_payment_id': 'text',
            'status': 'text'
        }) }}
)
select
    user_id,
    id as contribution_id,
    contributor_yenta_id as contributor_id,
    contributor_first_name as contributor_first_name,
    contributor_last_name as contributor_last_name,
    tier as tier,
    transaction_id as transaction_id,
    amount__amount as amount,
    amount__currency as currency,
    {{ rezen_timestamp('transaction_closed_at') }} as transaction_closed_at,
    outgoing_payment_id as payment_id,
    status as contribution_status,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
