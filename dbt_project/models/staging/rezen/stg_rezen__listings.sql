-- The latest version of the agent's reZEN listing transactions (per lifecycle list).
{{ rezen_latest(ref('base_rezen__listings'), ['user_id', 'listing_id'], 'updated_at desc nulls last, loaded_at desc') }}
