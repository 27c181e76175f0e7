{{ config(materialized='incremental', unique_key=['user_id', 'agent_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- The platform agents' own reZEN profiles: one row per user_id and reZEN agent id (agents/me).
{{ rezen_incremental('base_rezen__agents', ['user_id', 'agent_id'], ['first_name', 'last_name', 'email_address', 'phone_number', 'agent_status', 'join_date', 'anniversary_date', 'size_of_network', 'created_at', 'loaded_at'], 'loaded_at') }}
