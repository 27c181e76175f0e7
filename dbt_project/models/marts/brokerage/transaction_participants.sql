{{ config(materialized='incremental', unique_key=['user_id', 'participant_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- Participants of reZEN transactions with their commission splits: one row per user_id and participant. Participants naming an unknown agent are kept (see unresolved_agent_references).
{{ rezen_incremental('base_rezen__transaction_participants', ['user_id', 'participant_id'], ['transaction_id', 'agent_id', 'participant_role', 'is_external', 'first_name', 'last_name', 'payment_percent', 'payment_amount', 'payment_currency', 'is_paid', 'transaction_updated_at', 'loaded_at'], 'transaction_updated_at') }}
