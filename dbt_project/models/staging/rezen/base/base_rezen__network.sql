{{ config(materialized='ephemeral') }}
-- Every loaded version of down-line agents (tiers 1-5, every status).
with raw_rows as (
    {{ rezen_raw('network', {
            'id': 'text',
            'user_id': 'bigint',
            'first_name': 'text',
            'last_name': 'text',
            'status': 'text',
            'join_date': 'text',
            'size_of_network': 'integer',
            'sponsor_id': 'text',
            'updated_at': 'text',
            'terminated_as_of': 'text',
            'tier': 'integer'
        }) }}
)
select
    user_id,
    id as agent_id,
    first_name as first_name,
    last_name as last_name,
    status as agent_status,
    tier as tier,
    sponsor_id as sponsor_id,
    {{ rezen_date('join_date') }} as join_date,
    {{ rezen_date('terminated_as_of') }} as terminated_as_of,
    size_of_network as size_of_network,
    {{ rezen_timestamp('updated_at') }} as updated_at,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
