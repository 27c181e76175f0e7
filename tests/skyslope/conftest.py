"""Fixtures for the SkySlope/Qualia tests: demo agents registered from the sandbox."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from agentsync import agents, db


@pytest.fixture
def register_agents(sandbox_env, sandbox_server):
    """Register the sandbox's demo agents (with their credentials) in the test database."""

    def _register(*user_ids: int) -> None:
        for agent in sandbox_server.sandbox.demo_agents():
            if user_ids and agent["user_id"] not in user_ids:
                continue
            agents.add_agent(agent["user_id"], agent["name"], agent["credentials"])

    return _register


def truth(server, api: str, user_id: int, entity: str) -> dict:
    """The sandbox's ground truth for one agent and entity."""
    resp = httpx.get(
        f"{server.url}/_sandbox/truth/{api}", params={"user_id": user_id, "entity": entity}
    )
    resp.raise_for_status()
    return resp.json()[str(user_id)][entity]


def scalar(sql: str, **params) -> object:
    with db.begin() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(sql: str, **params) -> list:
    with db.begin() as conn:
        return list(conn.execute(text(sql), params))
