"""Prefect flows: ``onboard_user``, ``daily_sync`` (its agents as ``sync_agent`` runs when deployed)
and the dispatcher, plus their deployments.

Importing this package points Prefect at agentsync's data dir before Prefect is imported (see
:func:`flows.prefect_env.configure_prefect_env`), so without ``PREFECT_API_URL`` the flows run on
Prefect's temporary local API with its state under ``<data_dir>/prefect``.
"""

from flows.prefect_env import configure_prefect_env

configure_prefect_env()
