-- The latest version of the agent's cap info (yenta cap-info; shape unconfirmed).
{{ rezen_latest(ref('base_rezen__cap_info'), ['user_id', 'agent_id'], 'loaded_at desc') }}
