-- The latest version of the agent's reZEN transactions (per lifecycle list).
{{ rezen_latest(ref('base_rezen__transactions'), ['user_id', 'transaction_id'], 'updated_at desc nulls last, loaded_at desc') }}
