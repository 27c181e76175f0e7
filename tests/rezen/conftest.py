"""Fixtures for the reZEN tests: sandbox agents registered with their reZEN credentials."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentsync import agents


@pytest.fixture
def rezen_agents(sandbox_env, sandbox_server) -> list[int]:
    """Register every sandbox agent that has reZEN; returns their user ids."""
    out = []
    for demo in sandbox_server.sandbox.demo_agents():
        cred = demo["credentials"].get("rezen")
        if cred:
            agents.add_agent(demo["user_id"], demo["name"], {"rezen": cred})
            out.append(demo["user_id"])
    assert out, "the sandbox has no reZEN agents"
    return out


def truth(sandbox_server, user_id: int, entity: str | None = None) -> dict[str, Any]:
    """The sandbox's ground truth for one agent (over HTTP, as any client would ask)."""
    params: dict[str, Any] = {"user_id": user_id}
    if entity:
        params["entity"] = entity
    resp = httpx.get(f"{sandbox_server.url}/_sandbox/truth/rezen", params=params, timeout=60)
    resp.raise_for_status()
    return resp.json()[str(user_id)]


def run_all_steps(user_id: int, kind: str = "onboarding") -> dict[str, list]:
    """Run every reZEN step for one agent in the declared order."""
    from dlt_pipelines.rezen import steps

    return {step.key: step.run(user_id, kind, None) for step in steps()}
