"""Helpers for the FUB tests: sandbox agents, ground truth, marts."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from agentsync import agents, db
from agentsync.transform import run_dbt

FUB_MODELS = ["--select", "path:models/staging/fub", "path:models/marts/crm"]


@pytest.fixture
def receiver(sandbox_env, request) -> Iterator[tuple[str, Any]]:
    """The webhook receiver on a free loopback port with its worker running (no dbt).

    Yields ``(base URL, worker)``. The worker polls every ``RECEIVER_INTERVAL`` seconds of the
    test module (default 1.0).
    """
    from sandbox.core import free_port
    from webhooks.fub import Worker, make_app

    worker = Worker(transform=False, interval=getattr(request.module, "RECEIVER_INTERVAL", 1.0))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(worker), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    worker.start()
    yield f"http://127.0.0.1:{port}", worker
    worker.stop()
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def big_sandbox(agentsync_env, monkeypatch) -> Iterator[Any]:
    """A sandbox where agent 101 has more people than FUB's deep-offset limit (2000)."""
    from sandbox.core import start_in_thread

    running = start_in_thread(seed=7, scale=int(os.environ.get("AGENTSYNC_FUB_TEST_PEOPLE", 4500)))
    for key, value in running.sandbox.env().items():
        monkeypatch.setenv(key, value)
    yield running
    running.stop()


def add_agent(sandbox: Any, user_id: int) -> dict[str, str]:
    """Register a demo agent with its sandbox FUB credential; returns the credential."""
    for agent in sandbox.demo_agents():
        if agent["user_id"] == user_id:
            cred = agent["credentials"]["fub"]
            agents.add_agent(user_id, agent["name"], {"fub": cred})
            return cred
    raise AssertionError(f"sandbox has no agent {user_id}")


def truth(root: str, user_id: int, entity: str) -> dict[str, Any]:
    resp = httpx.get(
        f"{root}/_sandbox/truth/fub", params={"user_id": user_id, "entity": entity}, timeout=60
    )
    resp.raise_for_status()
    return resp.json()[str(user_id)][entity]


def control(root: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{root}/_sandbox/{path}", json=body, timeout=120)
    resp.raise_for_status()
    return resp.json()


def build_marts() -> None:
    result = run_dbt(["build", *FUB_MODELS])
    assert result.success, result.failures


def rows(sql: str, **params: Any) -> list[Any]:
    with db.begin() as conn:
        return conn.execute(text(sql), params).all()


def ids(sql: str, **params: Any) -> set[int]:
    return {int(r[0]) for r in rows(sql, **params)}
