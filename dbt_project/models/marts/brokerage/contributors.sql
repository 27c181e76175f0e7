{%- set affected = per_agent_incremental(['raw_rezen']) %}
-- Contributors are an aggregate served whole each run: an affected agent's newest load is its
-- current list (agents with no unprocessed reZEN load keep their rows untouched).
with current_contributors as (
    {{ rezen_latest_snapshot('base_rezen__contributors', ['user_id'], affected) }}
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
