{{ config(materialized='incremental', unique_key=['user_id', 'equity_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- Equity purchases and awards of the agent: one row per user_id and equity record.
{{ rezen_incremental('base_rezen__equity', ['user_id', 'equity_id'], ['equity_type', 'amount', 'currency', 'share_price', 'shares', 'purchased_at', 'loaded_at'], 'loaded_at') }}
