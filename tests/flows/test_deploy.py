"""``agentsync deploy`` against a real Prefect server on loopback (``prefect server start``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from sandbox.core import free_port

pytestmark = pytest.mark.slow


def _read_back(api: str, pool: str) -> dict:
    """Deployments as the server stores them, over its REST API.

    (Prefect 3.8.8's own client sends ``limit: null`` in filter bodies, which its server rejects
    with 422 in this dependency set, so the REST API is read directly.)
    """
    found = {}
    body = {"limit": 200, "offset": 0, "sort": "NAME_ASC"}
    for d in httpx.post(f"{api}/deployments/filter", json=body, timeout=30).json():
        flow = httpx.get(f"{api}/flows/{d['flow_id']}", timeout=30).json()
        found[f"{flow['name']}/{d['name']}"] = {
            "pool": d["work_pool_name"],
            "schedules": [s["schedule"] for s in d["schedules"]],
            "parameters": d["parameters"],
            "required": d["parameter_openapi_schema"].get("required", []),
            "pull_steps": d["pull_steps"],
        }
    found["_pool_type"] = httpx.get(f"{api}/work_pools/{pool}", timeout=30).json()["type"]
    return found


@pytest.fixture
def prefect_server(tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp_path / "prefect-server"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prefect server did not start on loopback within 240 s")
            time.sleep(1)
        yield api
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_deploy_registers_three_deployments(agentsync_env, prefect_server, tmp_path):
    env = dict(
        os.environ,
        PREFECT_API_URL=prefect_server,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        AGENTSYNC_DAILY_SYNC_CRON="15 5 * * *",
        AGENTSYNC_DISPATCH_INTERVAL_SECONDS="30",
    )
    done = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "deploy", "--work-pool", "agentsync-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "deployed daily-sync/daily" in done.stdout
    found = _read_back(prefect_server, "agentsync-test")
    assert found.pop("_pool_type") == "process"
    assert set(found) == {
        "daily-sync/daily",
        "dispatch-onboardings/dispatcher",
        "onboard-user/onboard",
    }
    assert all(d["pool"] == "agentsync-test" for d in found.values())
    assert found["daily-sync/daily"]["schedules"][0]["cron"] == "15 5 * * *"
    interval = found["dispatch-onboardings/dispatcher"]["schedules"][0]["interval"]
    assert interval == 30.0
    assert found["dispatch-onboardings/dispatcher"]["parameters"] == {"via_deployment": True}
    assert found["onboard-user/onboard"]["schedules"] == []
    assert found["onboard-user/onboard"]["required"] == ["user_id"]
    # Workers load the code from this checkout (same path on every machine, or a git URL).
    from flows.deployments import REPO_ROOT

    assert str(REPO_ROOT) in json.dumps(found["onboard-user/onboard"]["pull_steps"])


def test_deploy_without_api_url_names_the_setting(agentsync_env, tmp_path):
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "p"))
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "PREFECT_API_URL is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_cron_names_the_setting(agentsync_env, tmp_path):
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp_path / "p"),
        PREFECT_API_URL="http://127.0.0.1:9/api",
        AGENTSYNC_DAILY_SYNC_CRON="every day",
    )
    done = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "AGENTSYNC_DAILY_SYNC_CRON 'every day' is not a valid cron" in done.stderr
