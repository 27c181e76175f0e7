-- The latest version of revenue-share payments to the agent.
{{ rezen_latest(ref('base_rezen__revshare_payments'), ['user_id', 'payment_id'], 'loaded_at desc') }}
