{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Revenue-share contributors per tier, one row per agent, contributor and tier. The list is an
-- aggregate served whole each run, so an agent's newest load is its current list. Recomputed per
-- agent: only agents with reZEN loads this mart has not processed (their old rows deleted by the
-- pre-hook, per_agent_incremental in processed_loads.sql); the others keep their rows.

with

versions as (

    select * from {{ ref('stg_rezen__contributors') }}
    where {{ affected }}

),

newest_load as (

    select user_id, max(cast(_dlt_load_id as numeric)) as load_number
    from versions
    group by user_id

),

current_contributors as (

    select versions.*
    from versions
    join newest_load using (user_id)
    where cast(versions._dlt_load_id as numeric) = newest_load.load_number

),

final as (

    select
        user_id,
        contributor_id,
        first_name,
        last_name,
        tier,
        agent_status,
        contribution_count,
        total_contribution_amount,
        currency,
        loaded_at
    from current_contributors

)

select * from final
