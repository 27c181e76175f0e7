{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["{{ delete_affected_agents(['raw_rezen']) }}"],
    post_hook=["{{ mark_loads_processed('raw_rezen') }}"],
) }}
{%- set affected = affected_agents_filter('user_id', ['raw_rezen']) %}
-- The roster is a full list every run: the newest load per team is the current roster,
-- recomputed for the agents with reZEN loads this mart has not processed.
with current_roster as (
    {{ rezen_latest_snapshot('base_rezen__team_members', ['user_id', 'team_id'], affected) }}
)
select
    user_id,
    team_id,
    agent_id,
    roster_item_id,
    first_name,
    last_name,
    email_address,
    agent_status,
    join_date,
    roles,
    coalesce(roles like '%LEADER%' or roles like '%OWNER%', false) as is_owner,
    coalesce(roles like '%ADMIN%', false) as is_admin,
    coalesce(roles like '%MEMBER%', false) as is_member,
    loaded_at
from current_roster
