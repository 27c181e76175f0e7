"""Fixtures for the orchestration tests.

Prefect runs on its temporary local API, with its home in one directory for the whole session
(set before ``flows`` imports Prefect), so the ~25 s API start-up is paid once per session.

``fake_steps`` stands in for the sources in the state-machine tests only: each step writes real
``ops.sync_runs`` rows through ``record_sync`` and can be told to fail. The end-to-end tests use
the real sources over the sandbox (``dlt_pipelines.registry``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="agentsync-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

# Prefect reads its settings when first imported: set agentsync's defaults before anything can.
from flows.prefect_env import configure_prefect_env

configure_prefect_env()

from agentsync import progress  # noqa: E402
from agentsync.contracts import EntityResult, StepSpec  # noqa: E402
from dlt_pipelines.run import record_sync  # noqa: E402
from sandbox.core import free_port  # noqa: E402

FUB_KEY = {"api_key": "test-key-not-real"}
REZEN_KEY = {"api_key": "test-rezen-key"}


class FakeSource:
    """Steps for sources ``fub`` and ``rezen``; ``fail`` names the step keys that raise.

    ``cursor`` sets the cursor a step records (as a source with an incremental cursor does);
    ``hold_seconds`` keeps every step busy that long, and ``peak`` is the largest number of steps
    that were running at once (across threads: one agent's steps run one after another, so it
    counts concurrent onboardings). ``gather`` (with ``hold_seconds`` as its bound) holds each
    step until that many have been inside at once, then ``SETTLE_SECONDS`` more: a test of
    concurrency then does not depend on how fast a loaded machine starts the runs (a fixed 3 s
    hold saw a peak of 2 of 3 when a CI run shared the machine), and a run that is not let in
    still fails it, after the bound.
    """

    SETTLE_SECONDS = 1.0

    def __init__(self) -> None:
        self.fail: dict[str, BaseException] = {}
        self.fail_before_record: set[str] = set()
        self.calls: list[tuple[str, int, str]] = []
        self.cursor: dict[str, str] = {}
        self.hold_seconds = 0.0
        self.gather = 0
        self.peak = 0
        self._inside = 0
        self._lock = threading.Condition()

    def _hold(self) -> None:
        with self._lock:
            self._inside += 1
            self.peak = max(self.peak, self._inside)
            self._lock.notify_all()
        try:
            if self.gather:
                with self._lock:
                    self._lock.wait_for(lambda: self.peak >= self.gather, self.hold_seconds)
                time.sleep(self.SETTLE_SECONDS)
            else:
                time.sleep(self.hold_seconds)
        finally:
            with self._lock:
                self._inside -= 1

    def _runner(self, source: str, name: str, rows: int) -> Callable:
        key = f"{source}.{name}"

        def run(user_id: int, kind, flow_run_id) -> list[EntityResult]:
            self.calls.append((key, user_id, kind))
            if self.hold_seconds:
                self._hold()
            if key in self.fail_before_record:
                raise self.fail[key]
            with record_sync(kind, user_id, source, name, flow_run_id) as rec:
                if key in self.fail:
                    raise self.fail[key]
                progress.add(rows, name, total=rows)  # as a source reports a page walk
                rec.rows = rows
                rec.cursor = self.cursor.get(key)
            return [EntityResult(name, rows)]

        return run

    def steps(self) -> list[StepSpec]:
        return [
            StepSpec("rezen", "agent", self._runner("rezen", "agent", 1)),
            StepSpec(
                "rezen",
                "transactions",
                self._runner("rezen", "transactions", 7),
                depends_on=("rezen.agent",),
            ),
            StepSpec(
                "rezen", "network", self._runner("rezen", "network", 3), depends_on=("rezen.agent",)
            ),
            StepSpec("fub", "people", self._runner("fub", "people", 5)),
            StepSpec("skyslope", "listings", self._runner("skyslope", "listings", 2)),
        ]


@pytest.fixture
def fake_source(agentsync_env, monkeypatch) -> FakeSource:
    """Stand-in sources for the state-machine tests, with the dbt/quality steps recorded."""
    import flows.daily_sync
    import flows.onboard
    from dlt_pipelines import registry
    from flows.runner import StepOutcome

    fake = FakeSource()

    def steps(sources=None) -> list[StepSpec]:
        return [s for s in fake.steps() if sources is None or s.source in sources]

    monkeypatch.setattr(registry, "all_steps", steps)
    for module in (flows.onboard, flows.daily_sync):
        monkeypatch.setattr(
            module,
            "dbt_build",
            lambda sources, landed=False: StepOutcome(
                "dbt.build", "dbt", "done", rows=len(set(sources))
            ),
        )
        monkeypatch.setattr(
            module,
            "quality_steps",
            lambda user_ids, kind: [StepOutcome("quality.gate", "quality", "done")],
        )
    return fake


@pytest.fixture(scope="session")
def prefect_api() -> None:
    """Start Prefect's temporary API once (a trivial flow run), so timings exclude start-up."""
    from prefect import flow

    @flow(name="warm-up")
    def warm_up() -> int:
        return 1

    assert warm_up() == 1


@pytest.fixture
def run_logs_at_info(monkeypatch):
    """The suite runs Prefect (and so prefect-dbt) at WARNING; these tests read the run's INFO
    lines, dbt's included."""
    monkeypatch.setenv("DBT_LOG_LEVEL", "info")
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)  # setLevel, not the attribute: it clears logging's level cache
    yield
    for lg, level in zip(loggers, before, strict=True):
        lg.setLevel(level)


def prefect_client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def run_logs(flow_run_id) -> list[tuple[int, str]]:
    """(level, message) of every log line of a flow run and its task runs, as the UI has them."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    out: list[tuple[int, str]] = []
    with prefect_client() as client:
        while True:  # the API answers in pages of at most 200
            page = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
                offset=len(out),
            )
            out += [(entry.level, entry.message) for entry in page]
            if len(page) < 200:
                return out


@pytest.fixture
def prefect_server(tmp_path):
    """A real ``prefect server start`` in its own process on loopback (scheduler included);
    yields its API URL. Its log is ``<tmp_path>/prefect-server.log``."""
    port = free_port()
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp_path / "prefect-server"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "prefect-server.log").open("w")
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
        stdout=log,
        stderr=subprocess.STDOUT,
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
        stop_group(proc)
        log.close()


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group of ``proc`` (it and its children), SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a log file (for failure messages)."""
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"
