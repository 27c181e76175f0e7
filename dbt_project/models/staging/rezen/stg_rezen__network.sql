-- The latest version of down-line agents (tiers 1-5, every status).
{{ rezen_latest(ref('base_rezen__network'), ['user_id', 'agent_id'], 'updated_at desc nulls last, loaded_at desc') }}
