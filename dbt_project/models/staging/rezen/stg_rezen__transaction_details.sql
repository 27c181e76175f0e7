-- Every loaded transaction detail (arrakis transactions/{id}) without its participants.
{{ rezen_latest(ref('base_rezen__transaction_details'), ['user_id', 'transaction_id'], 'updated_at desc nulls last, loaded_at desc') }}
