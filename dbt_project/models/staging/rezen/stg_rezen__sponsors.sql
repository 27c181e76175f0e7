-- The latest version of the agent's upline (sponsor-tree flattenedSponsors).
{{ rezen_latest(ref('base_rezen__sponsors'), ['user_id', 'sponsor_id'], 'loaded_at desc') }}
