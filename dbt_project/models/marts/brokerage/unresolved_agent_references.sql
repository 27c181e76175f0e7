{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Participants naming a reZEN agent that is not a known agent of this account (the agent,
-- its down-line, front-line, sponsors or team roster). Kept in the marts, reported here.
-- Recomputed per agent: only agents with reZEN loads this mart has not processed (it reads the
-- agents, network, team_roster and transaction_participants marts after they merged them).
with known_agents as (
    select user_id, agent_id from {{ ref('agents') }} where {{ affected }}
    union select user_id, agent_id from {{ ref('network') }} where {{ affected }}
    union select user_id, agent_id from {{ ref('team_roster') }} where {{ affected }}
    union select user_id, agent_id from {{ ref('stg_rezen__front_line') }} where {{ affected }}
    union select user_id, sponsor_id from {{ ref('stg_rezen__sponsors') }} where {{ affected }}
), agent_participants as (
    select *
      from {{ ref('transaction_participants') }}
     where agent_id is not null
       and {{ affected }}
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
