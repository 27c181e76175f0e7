-- The latest version of the agent's front-line (tier-1 recruits).
{{ rezen_latest(ref('base_rezen__front_line'), ['user_id', 'agent_id'], 'loaded_at desc') }}
