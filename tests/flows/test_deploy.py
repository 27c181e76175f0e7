"""``agentsync deploy`` against a real Prefect server on loopback (``prefect server start``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.flows.conftest import stop_group as _stop_group

pytestmark = pytest.mark.slow


def _read_back(api: str, pool: str) -> dict:
    """Deployments as the server stores them, read over its REST API (not through our code)."""
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


def test_deploy_registers_four_deployments(agentsync_env, prefect_server, tmp_path):
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
        "sync-agent/agent",
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
    # The daily sync fans its agents out as sync-agent runs on the pool; those take a user id.
    assert found["daily-sync/daily"]["parameters"] == {"via_deployment": True}
    assert found["sync-agent/agent"]["schedules"] == []
    assert found["sync-agent/agent"]["required"] == ["user_id"]
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


def _flow_runs_of(api: str, deployment: str) -> list[dict]:
    """Flow runs of one deployment (``flow/name``), over the server's REST API."""
    dep = httpx.get(f"{api}/deployments/name/{deployment}", timeout=30).json()
    body = {"limit": 50, "offset": 0, "deployments": {"id": {"any_": [dep["id"]]}}}
    return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30).json()


def test_deployed_dispatcher_starts_the_onboard_deployment_for_an_inserted_job(
    agentsync_env, prefect_server, tmp_path
):
    from sqlalchemy import text

    from agentsync import agents, db, jobs
    from agentsync.settings import Settings
    from flows.deployments import plans

    # The default dispatch interval is one minute, in the settings, the plan and on the server.
    assert Settings.model_fields["dispatch_interval_seconds"].default == 60
    assert next(p for p in plans() if p.name == "dispatcher").schedule == "every 60s"
    env = dict(os.environ, PREFECT_API_URL=prefect_server, PREFECT_HOME=str(tmp_path / "pc"))
    env.pop("AGENTSYNC_DISPATCH_INTERVAL_SECONDS", None)
    deployed = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "deploy", "--work-pool", "agentsync-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    found = _read_back(prefect_server, "agentsync-test")
    assert found["dispatch-onboardings/dispatcher"]["schedules"][0]["interval"] == 60.0

    # Another system inserts a New job with plain SQL.
    agents.add_agent(81, "Agent 81")
    db.ensure_ready()
    with db.begin() as conn:
        conn.execute(text("insert into ops.onboarding_jobs (user_id) values (81)"))

    # The dispatcher as deployed: the dispatch-onboardings flow with via_deployment=True, run
    # twice (two ticks); the second must not start the job again.
    script = (
        "import json\n"
        "from flows.dispatcher import dispatch_new_jobs\n"
        "first = dispatch_new_jobs(via_deployment=True)\n"
        "second = dispatch_new_jobs(via_deployment=True)\n"
        "print('RESULT ' + json.dumps([first, second]))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    line = next(x for x in ran.stdout.splitlines() if x.startswith("RESULT "))
    first, second = json.loads(line.removeprefix("RESULT "))
    assert second == []
    (handed,) = first
    assert (handed["user_id"], handed["status"]) == (81, "Scheduled")

    runs = _flow_runs_of(prefect_server, "onboard-user/onboard")
    assert [(r["id"], r["parameters"]) for r in runs] == [(handed["flow_run_id"], {"user_id": 81})]
    job = jobs.get_job(81)
    assert job.status == "New"  # a worker has not run it yet
    assert job.flow_run_id == jobs.DISPATCHED + handed["flow_run_id"]


def _runs(api: str, deployment: str, state: str | None = None) -> list[dict]:
    """Flow runs of one deployment, optionally in one state type, over the REST API."""
    dep = httpx.get(f"{api}/deployments/name/{deployment}", timeout=30).json()
    body: dict = {"limit": 200, "offset": 0, "deployments": {"id": {"any_": [dep["id"]]}}}
    if state:
        body["flow_runs"] = {"state": {"type": {"any_": [state]}}}
    return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30).json()


def test_schedules_fire_on_a_real_server_and_prefect_ls_works(
    sandbox_env, sandbox_server, prefect_server, tmp_path
):
    """What an operator relies on: nobody triggers anything, and the onboarding still happens.

    A real Prefect server (its own process, its real scheduler), the deployments registered by
    ``agentsync deploy`` (dispatcher every 15 s for the test), a real worker on the work pool, and
    a New job inserted with plain SQL. The scheduler must create and the worker run a dispatcher
    flow run by itself, that run must start the onboarding deployment, and the onboarding must
    complete. The daily cron must have runs scheduled ahead. Prefect's own listing commands must
    work against the same server.
    """
    from sqlalchemy import text

    from agentsync import agents, db, jobs

    user_id, pool = 103, "agentsync-e2e"
    spec = next(a for a in sandbox_server.sandbox.demo_agents() if a["user_id"] == user_id)
    # Qualia only: the smallest real onboarding (its other integrations are simply not connected).
    agents.add_agent(user_id, spec["name"], {"qualia": spec["credentials"]["qualia"]})
    db.ensure_ready()

    env = dict(
        os.environ,
        PREFECT_API_URL=prefect_server,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        AGENTSYNC_DISPATCH_INTERVAL_SECONDS="15",
        AGENTSYNC_DAILY_SYNC_CRON="0 6 * * *",
        COLUMNS="250",  # Prefect's tables: full names, not "dispatch-onb…"
    )
    deployed = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "deploy", "--work-pool", pool],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deployed.returncode == 0, deployed.stderr[-2000:]

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--limit", "3"],
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with db.begin() as conn:
            conn.execute(
                text("insert into ops.onboarding_jobs (user_id) values (:u)"), {"u": user_id}
            )

        deadline = time.monotonic() + 600
        onboarded: list[dict] = []
        while time.monotonic() < deadline:
            onboarded = _runs(prefect_server, "onboard-user/onboard", "COMPLETED")
            if onboarded and jobs.get_job(user_id).status not in ("New", "Started"):
                break
            assert worker.poll() is None, "the worker exited: " + _tail(tmp_path / "worker.log")
            failed = _runs(prefect_server, "onboard-user/onboard", "FAILED")
            assert not failed, "onboarding run failed: " + _tail(tmp_path / "worker.log")
            time.sleep(3)
        else:
            dispatched = _runs(prefect_server, "dispatch-onboardings/dispatcher")
            pytest.fail(
                f"no Completed onboarding within 600 s; dispatcher runs: "
                f"{[(r['name'], r['state_type']) for r in dispatched][:10]}; "
                f"server log: {_tail(tmp_path / 'prefect-server.log')}"
            )

        # The onboarding run was started by a scheduled dispatcher run, not by anyone here.
        dispatched = _runs(prefect_server, "dispatch-onboardings/dispatcher", "COMPLETED")
        assert dispatched, "no dispatcher run completed"
        assert all(r["auto_scheduled"] for r in dispatched), "a dispatcher run was not scheduled"
        (run,) = onboarded
        assert run["parameters"] == {"user_id": user_id}
        job = jobs.get_job(user_id)
        assert job.status == "Complete", [(s.step, s.status, s.error) for s in job.steps]
        assert job.flow_run_id in (run["id"], jobs.DISPATCHED + run["id"])
        with db.begin() as conn:
            orders = conn.execute(
                text("select count(*) from marts.title_orders where user_id = :u"), {"u": user_id}
            ).scalar_one()
        truth = httpx.get(
            f"{sandbox_server.url}/_sandbox/truth/qualia", params={"user_id": user_id}, timeout=30
        ).json()
        assert orders == truth[str(user_id)]["orders"]["count"] > 0

        # The daily cron is scheduled ahead by the server (its 06:00 cannot be waited for here).
        ahead = _runs(prefect_server, "daily-sync/daily", "SCHEDULED")
        assert ahead and all(r["auto_scheduled"] for r in ahead)

        # Prefect's own CLI lists what is deployed and what ran.
        listed = {}
        commands = (
            ["deployment", "ls"],
            ["flow-run", "ls"],
            ["flow-run", "ls", "--state", "COMPLETED", "--limit", "200"],
            ["work-pool", "ls"],
            ["flow", "ls"],
        )
        for args in commands:
            done = subprocess.run(
                [sys.executable, "-m", "prefect", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
            listed[" ".join(args[:3])] = done.stdout
        for name in (
            "daily-sync/daily",
            "sync-agent/agent",
            "dispatch-onboardings/dispatcher",
            "onboard-user/onboard",
        ):
            assert name in listed["deployment ls"], listed["deployment ls"]
        ran = listed["flow-run ls --state"]
        assert run["name"] in ran and dispatched[0]["name"] in ran, ran
        assert pool in listed["work-pool ls"]
        assert "onboard-user" in listed["flow ls"]
    finally:
        _stop_group(worker)
        worker_log.close()


def _tail(path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"
