-- The latest version of equity purchases and awards (endpoint chosen by us: not documented).
{{ rezen_latest(ref('base_rezen__equity'), ['user_id', 'equity_id'], 'loaded_at desc') }}
