"""Webhook receivers: vendor pushes that land changes between the daily syncs.

Above the sources in the import layers (it fetches through them) and below the CLI
(``agentsync webhooks``); see ``docs/architecture.md`` "Code layers". One module per vendor that
pushes: :mod:`webhooks.fub` (Follow Up Boss).
"""
