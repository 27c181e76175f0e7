{{ config(materialized='ephemeral') }}
-- Every loaded version of transaction participants (from transaction detail).
with raw_rows as (
    {{ rezen_raw('transaction_participants', {
            'id': 'text',
            'user_id': 'bigint',
            'transaction_id': 'text',
            'transaction_updated_at': 'text',
            'yenta_user_id': 'text',
            'participant_role': 'text',
            'external': 'boolean',
            'first_name': 'text',
            'last_name': 'text',
            'payment__percent': 'numeric',
            'payment__amount__amount': 'numeric',
            'payment__amount__currency': 'text',
            'payment__paid': 'boolean'
        }) }}
)
select
    user_id,
    id as participant_id,
    transaction_id as transaction_id,
    yenta_user_id as agent_id,
    participant_role as participant_role,
    coalesce(external, false) as is_external,
    first_name as first_name,
    last_name as last_name,
    payment__percent as payment_percent,
    payment__amount__amount as payment_amount,
    payment__amount__currency as payment_currency,
    coalesce(payment__paid, false) as is_paid,
    {{ rezen_timestamp('transaction_updated_at') }} as transaction_updated_at,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
