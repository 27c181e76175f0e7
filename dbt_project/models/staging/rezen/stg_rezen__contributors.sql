-- The latest version of revenue-share contributors per tier (all-time window).
{{ rezen_latest(ref('base_rezen__contributors'), ['user_id', 'contributor_id'], 'loaded_at desc') }}
