{{ config(materialized='ephemeral') }}
-- Every loaded version of equity purchases and awards (endpoint chosen by us: not documented).
with raw_rows as (
    {{ rezen_raw('equity', {
            'id': 'text',
            'user_id': 'bigint',
            'type': 'text',
            'amount__amount': 'numeric',
            'amount__currency': 'text',
            'share_price__amount': 'numeric',
            'shares': 'numeric',
            'purchased_at': 'text'
        }) }}
)
select
    user_id,
    id as equity_id,
    type as equity_type,
    amount__amount as amount,
    amount__currency as currency,
    share_price__amount as share_price,
    shares as shares,
    {{ rezen_timestamp('purchased_at') }} as purchased_at,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
