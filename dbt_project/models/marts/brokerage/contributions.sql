{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Recomputed per agent: only agents with reZEN loads this mart has not processed (their old rows
-- deleted by the pre-hook); pending contributions are a snapshot (the newest pending list wins).
with paid as (
    select distinct on (user_id, contribution_id) *
      from {{ ref('base_rezen__contributions') }}
     where {{ affected }}
     order by user_id, contribution_id, _dlt_load_id desc
), pending as (
    {{ rezen_latest_snapshot('base_rezen__pending_contributions', ['user_id'], affected) }}
), all_contributions as (
    select paid.*, false as is_pending from paid
    union all
    select pending.*, true as is_pending
      from pending
     where not exists (
        select 1 from paid
         where paid.user_id = pending.user_id and paid.contribution_id = pending.contribution_id
     )
)
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
