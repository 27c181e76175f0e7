{{ config(materialized='ephemeral') }}
-- Every loaded version of team roster items (members, leaders, admins).
with raw_rows as (
    {{ rezen_raw('team_members', {
            'id': 'text',
            'user_id': 'bigint',
            'team_id': 'text',
            'agent__id': 'text',
            'agent__first_name': 'text',
            'agent__last_name': 'text',
            'agent__email_address': 'text',
            'agent__agent_status': 'text',
            'agent__join_date': 'text',
            'roles': 'text'
        }) }}
)
select
    user_id,
    id as roster_item_id,
    team_id as team_id,
    agent__id as agent_id,
    agent__first_name as first_name,
    agent__last_name as last_name,
    agent__email_address as email_address,
    agent__agent_status as agent_status,
    {{ rezen_date('agent__join_date') }} as join_date,
    roles as roles,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
