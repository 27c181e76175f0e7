{{ config(materialized='incremental', unique_key=['user_id', 'transaction_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- reZEN transactions, latest version: one row per user_id and transaction (lifecycle open/closed/terminated). Interface for the unified transactions mart.
{{ rezen_incremental('base_rezen__transactions', ['user_id', 'transaction_id'], ['code', 'transaction_type', 'lifecycle', 'lifecycle_state', 'street_address', 'unit', 'city', 'state', 'zip', 'one_line_address', 'side', 'price_amount', 'price_currency', 'gross_commission_amount', 'gross_commission_currency', 'sale_commission_percent', 'close_date', 'closed_at', 'created_at', 'updated_at', 'loaded_at'], 'updated_at') }}
