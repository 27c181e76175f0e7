{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Team rosters, one row per agent, team and member. The roster is a full list every run, so a
-- team's newest load is its current roster. Recomputed per agent: only agents with reZEN loads
-- this mart has not processed (their old rows deleted by the pre-hook, per_agent_incremental in
-- processed_loads.sql).

with

versions as (

    select * from {{ ref('stg_rezen__team_members') }}
    where {{ affected }}

),

newest_load as (

    select user_id, team_id, max(cast(_dlt_load_id as numeric)) as load_number
    from versions
    group by user_id, team_id

),

current_roster as (

    select versions.*
    from versions
    join newest_load using (user_id, team_id)
    where cast(versions._dlt_load_id as numeric) = newest_load.load_number

),

final as (

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

)

select * from final
