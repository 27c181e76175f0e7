"""Deployments: the daily sync on a cron (its agents as ``sync-agent`` runs), the dispatcher on an
interval, onboarding on demand.

``agentsync deploy`` registers them against the Prefect API in ``PREFECT_API_URL`` (a Prefect
server or Cloud) and binds them to a work pool (created as a ``process`` pool if missing). A
worker on each machine (``prefect worker start --pool agentsync``) picks the runs up; see
``docs/orchestration.md``.

The code is loaded by the workers from the checkout directory given as ``source`` (default: this
checkout), which must exist at the same path on every worker machine (or pass a git URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentsync.errors import SettingError
from agentsync.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POOL = "agentsync"


@dataclass(frozen=True)
class DeploymentPlan:
    """One deployment as agentsync registers it (what ``agentsync deploy --dry-run`` prints)."""

    flow_name: str
    name: str
    entrypoint: str
    schedule: str
    parameters: dict[str, Any]
    description: str

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


def plans(settings: Settings | None = None) -> list[DeploymentPlan]:
    """The four deployments, with schedules from settings."""
    settings = settings or get_settings()
    return [
        DeploymentPlan(
            "daily-sync",
            "daily",
            "flows/daily_sync.py:daily_sync",
            f"cron {settings.daily_sync_cron} ({settings.timezone})",
            {"via_deployment": True},
            "Incremental loads for every connected agent (each a sync-agent/agent flow run on "
            "the pool), one dbt build, quality gate, health, alerts.",
        ),
        DeploymentPlan(
            "sync-agent",
            "agent",
            "flows/sync_agent.py:sync_agent_flow",
            "on demand",
            {},
            "One agent's daily extraction (parameter user_id), started by daily-sync/daily for "
            "each agent; no dbt build or gate of its own.",
        ),
        DeploymentPlan(
            "dispatch-onboardings",
            "dispatcher",
            "flows/dispatcher.py:dispatch_new_jobs",
            f"every {settings.dispatch_interval_seconds}s",
            {"via_deployment": True},
            "Picks up onboarding jobs inserted as New and starts onboard-user/onboard for each.",
        ),
        DeploymentPlan(
            "onboard-user",
            "onboard",
            "flows/onboard.py:onboard_user",
            "on demand",
            {},
            "Onboard one agent (parameter user_id): history of every connected source, dbt, gate.",
        ),
    ]


def _check_cron(cron: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(cron):
        raise SettingError(f"AGENTSYNC_DAILY_SYNC_CRON {cron!r} is not a valid cron expression")


def _ensure_pool(pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))


def deploy_all(
    work_pool: str = DEFAULT_POOL,
    source: str | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """Register the deployments against ``PREFECT_API_URL``; returns their full names.

    Args:
        work_pool: the work pool (created as a ``process`` pool when it does not exist).
        source: where workers load the code from (a directory or a git URL; default: this
            checkout).
        settings: agentsync settings (schedules).

    Raises:
        SettingError: ``PREFECT_API_URL`` is unset (deployments need a lasting Prefect API,
            not the temporary one) or a schedule setting is invalid.
    """
    import os

    settings = settings or get_settings()
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            raise SettingError(
                "PREFECT_API_URL is not set: deployments need a Prefect server or Cloud "
                "(e.g. PREFECT_API_URL=http://127.0.0.1:4200/api after `prefect server start`)"
            )
    _check_cron(settings.daily_sync_cron)
    from prefect.flows import Flow
    from prefect.schedules import Cron, Interval

    _ensure_pool(work_pool)
    where = source or str(REPO_ROOT)
    deployments = []
    for plan in plans(settings):
        flow = Flow.from_source(source=where, entrypoint=plan.entrypoint)
        kwargs: dict[str, Any] = {
            "name": plan.name,
            "parameters": plan.parameters,
            "description": plan.description,
            "tags": ["agentsync"],
        }
        if plan.flow_name == "daily-sync":
            kwargs["schedules"] = [Cron(settings.daily_sync_cron, timezone=settings.timezone)]
        elif plan.flow_name == "dispatch-onboardings":
            kwargs["schedules"] = [Interval(settings.dispatch_interval_seconds)]
            kwargs["concurrency_limit"] = 1
        deployments.append(flow.to_deployment(**kwargs))
    # ``RunnerDeployment.apply``: registers the deployment and nothing else (``prefect.deploy``
    # would also build images and ask the server for online workers).
    for deployment in deployments:
        deployment.apply(work_pool_name=work_pool)
    return [p.full_name for p in plans(settings)]
