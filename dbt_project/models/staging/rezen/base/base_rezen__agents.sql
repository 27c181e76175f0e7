{{ config(materialized='ephemeral') }}
-- Every loaded version of the agent's own reZEN profile (yenta agents/me).
with raw_rows as (
    {{ rezen_raw('agent', {
            'id': 'text',
            'user_id': 'bigint',
            'first_name': 'text',
            'last_name': 'text',
            'email_address': 'text',
            'phone_number': 'text',
            'status': 'text',
            'agent_status': 'text',
            'join_date': 'text',
            'anniversary_date': 'text',
            'created_at': 'text',
            'size_of_network': 'integer'
        }) }}
)
select
    user_id,
    id as agent_id,
    first_name as first_name,
    last_name as last_name,
    email_address as email_address,
    phone_number as phone_number,
    coalesce(agent_status, status) as agent_status,
    {{ rezen_date('join_date') }} as join_date,
    {{ rezen_date('anniversary_date') }} as anniversary_date,
    {{ rezen_timestamp('created_at') }} as created_at,
    size_of_network as size_of_network,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
