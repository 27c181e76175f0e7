-- The latest version of paid revenue-share contributions (per tier).
{{ rezen_latest(ref('base_rezen__contributions'), ['user_id', 'contribution_id'], 'loaded_at desc') }}
