{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Each agent's down-line (tiers 1-5, every status) with its sponsor path from the agent down, one
-- row per agent and down-line agent. A path depends on the agent's whole down-line tree, so an
-- agent with reZEN loads this mart has not processed is recomputed whole (its old rows deleted by
-- the pre-hook, per_agent_incremental in processed_loads.sql); other agents' rows are left as
-- they are.

with recursive

latest as (

    -- the newest version per agent and down-line agent: newest updated_at, then the newest load
    select distinct on (user_id, agent_id) *
    from {{ ref('stg_rezen__network') }}
    where {{ affected }}
    order by user_id, agent_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

roots as (

    -- the platform agent's own reZEN id, from its newest profile
    select distinct on (user_id) user_id, agent_id as root_agent_id
    from {{ ref('stg_rezen__agents') }}
    where {{ affected }}
    order by user_id, cast(_dlt_load_id as numeric) desc

),

paths as (

    select latest.user_id, latest.agent_id, array[latest.sponsor_id] as sponsor_path
    from latest
    join roots on roots.user_id = latest.user_id and roots.root_agent_id = latest.sponsor_id
    union all
    select child.user_id, child.agent_id, paths.sponsor_path || child.sponsor_id
    from latest as child
    join paths on paths.user_id = child.user_id and paths.agent_id = child.sponsor_id
    where cardinality(paths.sponsor_path) < 10

),

final as (

    select
        latest.user_id,
        latest.agent_id,
        latest.first_name,
        latest.last_name,
        latest.agent_status,
        latest.tier,
        latest.sponsor_id,
        paths.sponsor_path,
        cardinality(paths.sponsor_path) as sponsor_path_length,
        latest.join_date,
        latest.terminated_as_of,
        latest.size_of_network,
        latest.updated_at,
        latest.loaded_at
    from latest
    left join paths using (user_id, agent_id)

)

select * from final
