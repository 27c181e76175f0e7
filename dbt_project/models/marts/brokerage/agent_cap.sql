{{ config(materialized='incremental', unique_key=['user_id', 'agent_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- The agent's current cap status: one row per user_id and agent.
{{ rezen_incremental('base_rezen__cap_info', ['user_id', 'agent_id'], ['cap_year_start', 'cap_year_end', 'cap_status', 'brokerage_cap_amount', 'brokerage_cap_paid_amount', 'team_cap_amount', 'team_cap_paid_amount', 'currency', 'loaded_at'], 'loaded_at') }}
