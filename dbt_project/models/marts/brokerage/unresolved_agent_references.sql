{{ config(materialized='table') }}
-- Participants naming a reZEN agent that is not a known agent of this account (the agent,
-- its down-line, front-line, sponsors or team roster). Kept in the marts, reported here.
with known_agents as (
    select user_id, agent_id from {{ ref('agents') }}
    union select user_id, agent_id from {{ ref('network') }}
    union select user_id, agent_id from {{ ref('team_roster') }}
    union select user_id, agent_id from {{ ref('stg_rezen__front_line') }}
    union select user_id, sponsor_id from {{ ref('stg_rezen__sponsors') }}
), agent_participants as (
    select * from {{ ref('transaction_participants') }} where agent_id is not null
)
select
    p.user_id,
    p.agent_id,
    min(p.first_name) as first_name,
    min(p.last_name) as last_name,
    string_agg(distinct p.participant_role, ',') as participant_roles,
    count(distinct p.transaction_id) as transaction_count,
    count(*) as participant_rows
from agent_participants as p
left join known_agents as k on k.user_id = p.user_id and k.agent_id = p.agent_id
where k.agent_id is null
group by p.user_id, p.agent_id
