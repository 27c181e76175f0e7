{{ config(materialized='ephemeral') }}
-- Every loaded version of the agent's cap info (yenta cap-info; shape unconfirmed).
with raw_rows as (
    {{ rezen_raw('cap_info', {
            'id': 'text',
            'user_id': 'bigint',
            'cap_year_start': 'text',
            'cap_year_end': 'text',
            'cap_status': 'text',
            'brokerage_cap__amount': 'numeric',
            'brokerage_cap__currency': 'text',
            'brokerage_cap_paid__amount': 'numeric',
            'team_cap__amount': 'numeric',
            'team_cap_paid__amount': 'numeric'
        }) }}
)
select
    user_id,
    id as agent_id,
    {{ rezen_date('cap_year_start') }} as cap_year_start,
    {{ rezen_date('cap_year_end') }} as cap_year_end,
    cap_status as cap_status,
    brokerage_cap__amount as brokerage_cap_amount,
    brokerage_cap_paid__amount as brokerage_cap_paid_amount,
    team_cap__amount as team_cap_amount,
    team_cap_paid__amount as team_cap_paid_amount,
    brokerage_cap__currency as currency,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
