-- The latest version of the agent's reZEN teams (yenta teams/{id}).
{{ rezen_latest(ref('base_rezen__teams'), ['user_id', 'team_id'], 'loaded_at desc') }}
