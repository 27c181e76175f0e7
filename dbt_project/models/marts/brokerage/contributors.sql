{{ config(materialized='table', post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- A table: contributors are an aggregate served whole each run (newest load per agent).
with current_contributors as (
    {{ rezen_latest_snapshot('base_rezen__contributors', ['user_id']) }}
)
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
