{{ config(materialized='ephemeral') }}
-- Every loaded transaction detail (arrakis transactions/{id}) without its participants.
with raw_rows as (
    {{ rezen_raw('transaction_details', {
            'id': 'text',
            'user_id': 'bigint',
            'updated_at': 'text',
            'gross_commission__amount': 'numeric',
            'gross_commission__currency': 'text',
            'lifecycle_state__state': 'text'
        }) }}
)
select
    user_id,
    id as transaction_id,
    lifecycle_state__state as lifecycle_state,
    gross_commission__amount as gross_commission_amount,
    gross_commission__currency as gross_commission_currency,
    {{ rezen_timestamp('updated_at') }} as updated_at,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
