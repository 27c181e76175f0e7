{{ config(materialized='incremental', unique_key=['user_id', 'listing_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- reZEN listing transactions, latest version: one row per user_id and listing (lifecycle open/closed/terminated). Interface for the unified listings mart.
{{ rezen_incremental('base_rezen__listings', ['user_id', 'listing_id'], ['code', 'lifecycle', 'lifecycle_state', 'street_address', 'unit', 'city', 'state', 'zip', 'one_line_address', 'side', 'price_amount', 'price_currency', 'listing_date', 'expiration_date', 'close_date', 'closed_at', 'created_at', 'updated_at', 'loaded_at'], 'updated_at') }}
