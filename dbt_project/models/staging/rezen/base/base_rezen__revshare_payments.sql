{{ config(materialized='ephemeral') }}
-- Every loaded version of revenue-share payments to the agent.
with raw_rows as (
    {{ rezen_raw('revshare_payments', {
            'id': 'text',
            'user_id': 'bigint',
            'amount__amount': 'numeric',
            'amount__currency': 'text',
            'paid_at': 'text',
            'status': 'text',
            'contribution_count': 'integer'
        }) }}
)
select
    user_id,
    id as payment_id,
    amount__amount as amount,
    amount__currency as currency,
    {{ rezen_timestamp('paid_at') }} as paid_at,
    status as payment_status,
    contribution_count as contribution_count,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
