{{ config(materialized='ephemeral') }}
-- Every loaded version of the agent's reZEN teams (yenta teams/{id}).
with raw_rows as (
    {{ rezen_raw('teams', {
            'id': 'text',
            'user_id': 'bigint',
            'name': 'text',
            'team_type': 'text',
            'status': 'text',
            'created_at': 'text'
        }) }}
)
select
    user_id,
    id as team_id,
    name as team_name,
    team_type as team_type,
    status as team_status,
    {{ rezen_timestamp('created_at') }} as created_at,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
