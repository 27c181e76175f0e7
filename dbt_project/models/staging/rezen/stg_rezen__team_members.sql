-- The latest version of team roster items (members, leaders, admins).
{{ rezen_latest(ref('base_rezen__team_members'), ['user_id', 'team_id', 'agent_id'], 'loaded_at desc') }}
