{{ config(materialized='ephemeral') }}
-- Every loaded version of the agent's front-line (tier-1 recruits).
with raw_rows as (
    {{ rezen_raw('front_line', {
            'id': 'text',
            'user_id': 'bigint',
            'sponsor_id': 'text',
            'first_name': 'text',
            'last_name': 'text',
            'status': 'text',
            'join_date': 'text',
            'size_of_network': 'integer'
        }) }}
)
select
    user_id,
    id as agent_id,
    sponsor_id as sponsor_id,
    first_name as first_name,
    last_name as last_name,
    status as agent_status,
    {{ rezen_date('join_date') }} as join_date,
    size_of_network as size_of_network,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
