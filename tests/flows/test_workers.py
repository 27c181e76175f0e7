"""Scale-out across machines: the deployed daily sync on two workers of one pool, then one killed.

A real ``prefect server start``, the deployments registered by ``agentsync deploy``, and two real
``prefect worker start`` processes on one work pool standing in for two machines: each with its
own ``AGENTSYNC_DATA_DIR`` and ``PREFECT_HOME``, both on the test's database
(``AGENTSYNC_DATABASE_URL``) and the same key. A small fleet (five sandbox agents, reZEN and
Qualia only) is synced by ``daily-sync/daily`` runs that nobody but the server hands out:

1. **The split.** Each agent's extraction is its own ``sync-agent`` flow run; the server's events
   say both workers ran some; every agent's marts equal the sandbox's truth; one dbt build and
   one gate ran, in the parent.
2. **A machine dies.** A day later (the sandbox advanced), the worker that does not run the
   parent is SIGKILLed with every process it started, at the moment its agent runs are all
   Running and one of them has a sync run ``running`` in ``ops.sync_runs``. Nothing is left to tell Prefect, so those runs would stay
   Running; the parent finds them abandoned through their claims, marks them Crashed (its
   message, not Prefect's, is checked), settles their sync runs as interrupted and starts those
   agents again on the surviving worker. Every agent ends with exactly one completed run, its marts
   equal the new truth (no duplicate, nothing lost), and every outcome is recorded.

Worker limits make the split certain rather than likely: the parent takes one of its worker's
two slots, so with three agent runs in flight the other worker must take at least two.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import text

from agentsync import agents, db
from tests.flows.conftest import stop_group, tail
from tests.flows.truth import mart_problems

pytestmark = pytest.mark.slow

SCALE = 4000  # a numeric sandbox scale: five agents, 101..105, small accounts
SOURCES = ("rezen", "qualia")
POOL = "fleet"
WIDTH = 3  # agent runs in flight (AGENTSYNC_MAX_CONCURRENT_SYNCS)
WORKER_LIMIT = 2  # flow runs per worker (the parent's worker has one slot left for agents)


@dataclass
class Machine:
    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def flow_runs(self) -> dict[str, int]:
        """Flow run id -> pid of every flow-run process this worker started (read from their
        environment, as anyone on that machine could)."""
        out: dict[str, int] = {}
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=False):
                with contextlib.suppress(psutil.Error):
                    run_id = child.environ().get("PREFECT__FLOW_RUN_ID")
                    if run_id:
                        out[run_id] = child.pid
        return out

    def kill(self) -> None:
        """SIGKILL the worker and every process under it at once: the machine is gone."""
        procs = [psutil.Process(self.proc.pid)]
        with contextlib.suppress(psutil.Error):
            procs += procs[0].children(recursive=True)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(procs, timeout=30)
        self.proc.wait(30)


@pytest.fixture
def fleet(agentsync_env, monkeypatch):
    """A sandbox of five agents; each registered with its reZEN and Qualia credentials only."""
    from sandbox.core import start_in_thread

    running = start_in_thread(seed=42, scale=SCALE)
    try:
        for key, value in running.sandbox.env().items():
            monkeypatch.setenv(key, value)
        connected: dict[int, list[str]] = {}
        for spec in running.sandbox.demo_agents():
            creds = {k: v for k, v in spec["credentials"].items() if k in SOURCES}
            if creds:
                agents.add_agent(spec["user_id"], spec["name"], creds)
                connected[spec["user_id"]] = sorted(creds)
        assert len(connected) == 5, connected
        yield running, connected
    finally:
        running.stop()


def _start_worker(name: str, env: dict[str, str], tmp_path: Path) -> Machine:
    home = tmp_path / name
    log = tmp_path / f"{name}.log"
    machine_env = dict(
        env,
        AGENTSYNC_DATA_DIR=str(home / "data"),
        PREFECT_HOME=str(home / "prefect"),
    )
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "prefect", "worker", "start"),
            *("--pool", POOL, "--name", name, "--limit", str(WORKER_LIMIT)),
        ],
        env=machine_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Machine(name, proc, log)


def _http(method: str, url: str, **kwargs) -> httpx.Response:
    """One request to the server, tried again when it did not answer or answered 502/503 (a
    loaded 2-core CI machine can keep a SQLite-backed server busy past a timeout, or its
    database locked: Prefect's own client retries those codes the same way)."""
    for attempt in range(6):
        try:
            resp = httpx.request(method, url, timeout=120, **kwargs)
        except httpx.TransportError:
            if attempt == 5:
                raise
            time.sleep(2)
            continue
        if resp.status_code not in (502, 503) or attempt == 5:
            break
        time.sleep(2)
    resp.raise_for_status()
    return resp


def _get(url: str) -> dict:
    return _http("GET", url).json()


def _post(api: str, path: str, body: dict) -> object:
    resp = _http("POST", f"{api}{path}", json=body)
    return resp.json() if resp.content else None


def _start_daily(api: str) -> str:
    """A run of ``daily-sync/daily`` as the scheduler would create it (its own parameters)."""
    dep = _get(f"{api}/deployments/name/daily-sync/daily")
    return _post(api, f"/deployments/{dep['id']}/create_flow_run", {})["id"]


def _run(api: str, run_id: str) -> dict:
    return _get(f"{api}/flow_runs/{run_id}")


def _children(api: str, parent_id: str) -> list[dict]:
    """The ``sync-agent`` flow runs a daily sync started (its subflows), oldest first."""
    body = {
        "flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}},
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": 200,
    }
    return _post(api, "/flow_runs/filter", body)


def _submitted_by(api: str) -> dict[str, str]:
    """Flow run id -> the worker that submitted it, from the server's events (in pages of 50)."""
    body = {"filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}}, "limit": 50}
    page = _post(api, "/events/filter", body)
    out: dict[str, str] = {}
    while True:
        for event in page["events"]:
            worker = event["resource"]["prefect.resource.name"]
            for related in event["related"]:
                if related.get("prefect.resource.role") == "flow-run":
                    run_id = related["prefect.resource.id"].removeprefix("prefect.flow-run.")
                    out[run_id] = worker
        if not page.get("next_page"):
            return out
        page = _get(page["next_page"])


def _wait_submitted(api: str, run_ids: list[str], timeout: float = 60) -> dict[str, str]:
    """:func:`_submitted_by`, once every run's event is in (events are stored in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _submitted_by(api)
        if all(r in found for r in run_ids) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def _artifact(api: str, run_id: str, key: str) -> str:
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": [key]}}}
    (found,) = _post(api, "/artifacts/filter", body)
    return found["data"]


def _wait_final(api: str, run_id: str, machines: list[Machine], timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run(api, run_id)
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        for m in machines:
            assert m.alive(), f"worker {m.name} exited: {tail(m.log)}"
        time.sleep(2)
    pytest.fail(f"daily sync {run_id} did not end within {timeout:.0f}s: {_logs(machines)}")


def _logs(machines: list[Machine]) -> str:
    return "\n".join(f"--- {m.name}\n{tail(m.log, 4000)}" for m in machines)


def _sync_runs(flow_run_ids: list[str]) -> list[tuple]:
    with db.begin() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "select flow_run_id, user_id, source, entity, status, error from ops.sync_runs "
                    "where flow_run_id = any(:ids) order by run_id"
                ),
                {"ids": flow_run_ids},
            )
        ]


def _post_steps(markdown: str) -> list[str]:
    """The parent's post-load steps as its artifact lists them (rows of agent ``all``)."""
    return [
        line.split("|")[2].strip() for line in markdown.splitlines() if line.startswith("| all |")
    ]


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).memory_info().rss / 2**20
    return 0.0


def _truth_problems(root: str, connected: dict[int, list[str]]) -> dict[int, list[str]]:
    return {u: p for u, i in connected.items() if (p := mart_problems(root, u, i))}


def test_two_workers_split_the_fleet_and_a_killed_one_loses_nothing(
    fleet, prefect_server, tmp_path
):
    sandbox, connected = fleet
    api = prefect_server
    started = time.monotonic()
    # Before any sync every agent's marts differ from the truth: the check can fail.
    assert set(_truth_problems(sandbox.url, connected)) == set(connected)

    env = dict(
        os.environ,
        PREFECT_API_URL=api,
        PREFECT_LOGGING_LEVEL="INFO",
        PREFECT_WORKER_QUERY_SECONDS="2",
        AGENTSYNC_MAX_CONCURRENT_SYNCS=str(WIDTH),
        AGENTSYNC_AGENT_RUN_START_TIMEOUT_SECONDS="60",
        COLUMNS="250",
    )
    deployed = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "deploy", "--work-pool", POOL],
        env=dict(env, PREFECT_HOME=str(tmp_path / "deployer")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    assert "deployed sync-agent/agent" in deployed.stdout
    # The dispatcher's interval runs would take worker slots at random moments: not under test.
    dispatcher = _get(f"{api}/deployments/name/dispatch-onboardings/dispatcher")
    _post(api, f"/deployments/{dispatcher['id']}/pause_deployment", {})

    machines = [_start_worker(n, env, tmp_path) for n in ("machine-a", "machine-b")]
    try:
        # -- 1. both workers take agents; one build, one gate; marts equal the truth -----------
        first = _start_daily(api)
        run = _wait_final(api, first, machines)
        assert run["state_type"] == "COMPLETED", (run["state"], _logs(machines))
        day = run["name"].removeprefix("daily-")
        children = _children(api, first)
        by_agent = {c["parameters"]["user_id"]: c for c in children}
        assert len(children) == len(by_agent) == 5, [c["name"] for c in children]
        assert set(by_agent) == set(connected)
        for user_id, child in by_agent.items():
            assert child["state_type"] == "COMPLETED", (child["name"], child["state"])
            assert child["name"] == f"sync-agent-{user_id}-{day}"
            assert child["parameters"] == {"user_id": user_id, "sources": None}
        worker_of = _wait_submitted(api, [first, *(c["id"] for c in children)])
        assert {worker_of[c["id"]] for c in children} == {"machine-a", "machine-b"}, worker_of
        assert _truth_problems(sandbox.url, connected) == {}
        rows = _sync_runs([c["id"] for c in children])
        assert {(r[1], r[4]) for r in rows} == {(u, "done") for u in connected}, rows
        assert {r[0] for r in rows} == {c["id"] for c in children}
        assert _post_steps(_artifact(api, first, "daily-sync")) == [
            "dbt.build",
            "quality.gate",
            "quality.health",
            "quality.alerts",
        ]
        for child in children:  # each agent's outcomes, as the parent read them, have no dbt
            table = json.loads(
                _artifact(api, child["id"], f"sync-agent-{child['parameters']['user_id']}")
            )
            assert table and all(r["source"] in SOURCES for r in table), table

        # -- 2. a day later, one machine dies mid-run ---------------------------------------------
        _http("POST", f"{sandbox.url}/_sandbox/advance", json={"seconds": 86_400, "fraction": 0.05})
        # The first requests of each API answer slowly, so agents are mid-extraction for a while.
        _http(
            "POST",
            f"{sandbox.url}/_sandbox/faults",
            json={"spec": "rezen:*:slow:3:12,qualia:*:slow:1:12"},
        )
        second = _start_daily(api)
        deadline = time.monotonic() + 600
        victim = killed = None
        while time.monotonic() < deadline and killed is None:
            host = next((m for m in machines if second in m.flow_runs()), None)
            if host is not None:
                victim = next(m for m in machines if m is not host)
                theirs = list(victim.flow_runs())
                started_all = theirs and all(
                    _run(api, r)["state_type"] == "RUNNING" for r in theirs
                )
                if started_all and any(r[4] == "running" for r in _sync_runs(theirs)):
                    rss = [_rss_mb(pid) for pid in victim.flow_runs().values()]
                    victim.kill()
                    killed = theirs
                    break
            assert _run(api, second)["state_type"] not in ("COMPLETED", "FAILED", "CRASHED")
            time.sleep(0.2)
        assert killed, f"no agent of the other worker was seen mid-extraction: {_logs(machines)}"
        survivor = next(m for m in machines if m is not victim)

        run = _wait_final(api, second, [survivor])
        assert run["state_type"] == "COMPLETED", (run["state"], _logs(machines))
        _http("DELETE", f"{sandbox.url}/_sandbox/faults")
        children = _children(api, second)
        worker_of = _wait_submitted(api, [c["id"] for c in children])
        dead = [c for c in children if c["id"] in killed]
        assert dead and all(c["state_type"] == "CRASHED" for c in dead), dead
        # Crashed by the parent (its message), not by Prefect: with the worker dead with it,
        # nothing else would ever have ended these runs.
        assert all(c["state"]["message"].startswith("abandoned") for c in dead), dead
        done = [c for c in children if c["state_type"] == "COMPLETED"]
        # Every agent completed exactly once; the dead machine's agents again, on the survivor.
        assert sorted(c["parameters"]["user_id"] for c in done) == sorted(connected)
        for c in dead:
            user_id = c["parameters"]["user_id"]
            (again,) = [d for d in done if d["parameters"]["user_id"] == user_id]
            attempt = re.search(r"-attempt-(\d+)$", again["name"])
            assert attempt and int(attempt.group(1)) >= 2, again["name"]
            assert worker_of[again["id"]] == survivor.name
            # On a loaded machine a restart can itself be judged abandoned (still Pending after
            # the start timeout, or Running without its claim past the grace): it is then
            # crashed by the parent and started once more, and the fence keeps it from working.
            between = [
                o
                for o in children
                if o["parameters"]["user_id"] == user_id and o["id"] not in (c["id"], again["id"])
            ]
            assert all(o["state_type"] in ("CRASHED", "FAILED") for o in between), between
            assert not [r for r in _sync_runs([o["id"] for o in between]) if r[4] == "done"]
        # ops.sync_runs tells the truth: what the kill cut is failed as interrupted, nothing is
        # left running, and every agent's entities are done in its completed run.
        cut_rows = _sync_runs(killed)
        assert cut_rows and "running" not in {r[4] for r in cut_rows}
        assert any(r[4] == "failed" and r[5].startswith("interrupted") for r in cut_rows)
        with db.begin() as conn:
            assert (
                conn.execute(
                    text("select count(*) from ops.sync_runs where status = 'running'")
                ).scalar_one()
                == 0
            )
        rows = _sync_runs([c["id"] for c in done])
        assert {(r[1], r[4]) for r in rows} == {(u, "done") for u in connected}, rows
        # The marts hold the new day's truth, once: nothing lost, nothing twice.
        assert _truth_problems(sandbox.url, connected) == {}
        markdown = _artifact(api, second, "daily-sync")
        assert _post_steps(markdown) == [
            "dbt.build",
            "quality.gate",
            "quality.health",
            "quality.alerts",
        ]
        assert re.search(r"-attempt-\d+ \| COMPLETED", markdown), markdown
        assert "| CRASHED | abandoned" in markdown, markdown
        print(
            f"fleet scale-out test: {time.monotonic() - started:.0f} s; agent flow-run processes "
            f"mid-extraction: {', '.join(f'{m:.0f}' for m in rss)} MB RSS"
        )
    finally:
        for m in machines:
            if m.alive():
                stop_group(m.proc)
