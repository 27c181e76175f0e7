"""Data quality: counts and freshness per source entity, the quality gate, health, alerts.

Everything here is generic over the entity registry (``agentsync.entities.all_entities()``)
and the ``ops`` tables (``sync_runs``, ``quarantine``, ``dbt_processed_loads``,
``onboarding_jobs``, ``alerts``); no module knows a particular source.
"""
