{{ config(materialized='ephemeral') }}
-- Every loaded version of the agent's upline (sponsor-tree flattenedSponsors).
with raw_rows as (
    {{ rezen_raw('sponsors', {
            'id': 'text',
            'user_id': 'bigint',
            'agent_id': 'text',
            'first_name': 'text',
            'last_name': 'text',
            'level': 'integer',
            'status': 'text'
        }) }}
)
select
    user_id,
    id as sponsor_id,
    agent_id as agent_id,
    first_name as first_name,
    last_name as last_name,
    level as level,
    status as sponsor_status,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
