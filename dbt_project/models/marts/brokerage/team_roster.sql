{%- set affected = per_agent_incremental(['raw_rezen']) %}
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
