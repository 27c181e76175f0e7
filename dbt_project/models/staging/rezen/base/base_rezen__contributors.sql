{{ config(materialized='ephemeral') }}
-- Every loaded version of revenue-share contributors per tier (all-time window).
with raw_rows as (
    {{ rezen_raw('contributors', {
            'id': 'text',
            'user_id': 'bigint',
            'first_name': 'text',
            'last_name': 'text',
            'tier': 'integer',
            'status': 'text',
            'contribution_count': 'integer',
            'total_contribution__amount': 'numeric',
            'total_contribution__currency': 'text'
        }) }}
)
select
    user_id,
    id as contributor_id,
    first_name as first_name,
    last_name as last_name,
    tier as tier,
    status as agent_status,
    contribution_count as contribution_count,
    total_contribution__amount as total_contribution_amount,
    total_contribution__currency as currency,
    _dlt_load_id,
    {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
from raw_rows
