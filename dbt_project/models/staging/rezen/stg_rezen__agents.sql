-- The latest version of the agent's own reZEN profile (yenta agents/me).
{{ rezen_latest(ref('base_rezen__agents'), ['user_id', 'agent_id'], 'loaded_at desc') }}
