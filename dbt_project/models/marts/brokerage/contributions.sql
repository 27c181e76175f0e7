{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Paid and pending revenue-share contributions, one row per agent and contribution. Recomputed per
-- agent: only agents with reZEN loads this mart has not processed (their old rows deleted by the
-- pre-hook, per_agent_incremental in processed_loads.sql). Paid contributions keep their newest
-- version; pending ones are a snapshot: the agent's newest pending list is the current one.

with

paid as (

    -- the newest version per agent and contribution: the newest load
    select distinct on (user_id, contribution_id) *
    from {{ ref('stg_rezen__contributions') }}
    where {{ affected }}
    order by user_id, contribution_id, cast(_dlt_load_id as numeric) desc

),

pending_versions as (

    select * from {{ ref('stg_rezen__pending_contributions') }}
    where {{ affected }}

),

newest_pending_load as (

    select user_id, max(cast(_dlt_load_id as numeric)) as load_number
    from pending_versions
    group by user_id

),

pending as (

    select pending_versions.*
    from pending_versions
    join newest_pending_load using (user_id)
    where cast(pending_versions._dlt_load_id as numeric) = newest_pending_load.load_number

),

all_contributions as (

    select paid.*, false as is_pending
    from paid
    union all
    -- a pending contribution that has been paid since is the paid one
    select pending.*, true as is_pending
    from pending
    where not exists (
        select 1
        from paid
        where paid.user_id = pending.user_id and paid.contribution_id = pending.contribution_id
    )

),

final as (

    select
        user_id,
        contribution_id,
        contributor_id,
        contributor_first_name,
        contributor_last_name,
        tier,
        transaction_id,
        amount,
        currency,
        transaction_closed_at,
        payment_id,
        contribution_status,
        is_pending,
        loaded_at
    from all_contributions

)

select * from final
