{{ config(materialized='incremental', unique_key=['user_id', 'payment_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- Revenue-share payments to the agent: one row per user_id and payment.
{{ rezen_incremental('base_rezen__revshare_payments', ['user_id', 'payment_id'], ['amount', 'currency', 'paid_at', 'payment_status', 'contribution_count', 'loaded_at'], 'loaded_at') }}
