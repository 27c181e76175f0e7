-- The latest version of transaction participants (from transaction detail).
{{ rezen_latest(ref('base_rezen__transaction_participants'), ['user_id', 'participant_id'], 'transaction_updated_at desc nulls last, loaded_at desc') }}
