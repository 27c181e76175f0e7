{{ config(materialized='incremental', unique_key=['user_id', 'team_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- reZEN teams the agent belongs to: one row per user_id and team.
{{ rezen_incremental('base_rezen__teams', ['user_id', 'team_id'], ['team_name', 'team_type', 'team_status', 'created_at', 'loaded_at'], 'loaded_at') }}
