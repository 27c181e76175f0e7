-- The latest version of pending (not yet paid) contributions.
{{ rezen_latest(ref('base_rezen__pending_contributions'), ['user_id', 'contribution_id'], 'loaded_at desc') }}
