"""How the flows' dbt build shows in Prefect: one step by default, a task run per dbt node when
``AGENTSYNC_DBT_TASK_PER_NODE`` is on.

Per-node task runs (``prefect_dbt.PrefectDbtRunner``) cost about five times the build itself on
this 2-core machine (the demo's daily build: 37 s against 6.8 s, ``bench/results.md``), so the
default runs dbt's own runner inside the ``dbt.build`` step. Both runners are real: the runners'
``invoke`` are wrapped by spies that call the real method, the build runs against the test
database, and the flow run's task runs are read back from Prefect's API as the UI shows them.
"""

from __future__ import annotations

import time

import pytest
from prefect import flow
from sqlalchemy import text

from agentsync import db
from tests.flows.conftest import prefect_client

pytestmark = pytest.mark.slow  # real dbt builds (~30 s on 2 cores)


def _task_run_names(flow_run_id) -> list[str]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    # page through them: the API answers at most its default limit (200) per call, and the
    # qualia build's graph (@staging.qualia) has more nodes than that
    names: list[str] = []
    with prefect_client() as client:
        while True:
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=200,
                offset=len(names),
            )
            names += [r.name for r in page]
            if len(page) < 200:
                return names


def _spy(monkeypatch, cls, calls: list) -> None:
    real_invoke = cls.invoke

    def spy(self, args, **kwargs):
        calls.append(list(args))
        return real_invoke(self, args, **kwargs)

    monkeypatch.setattr(cls, "invoke", spy)


def _built(*names: str) -> set[str]:
    with db.begin() as conn:
        return {
            r[0]
            for r in conn.execute(
                text(
                    "select table_schema || '.' || table_name from information_schema.tables "
                    "where table_name = any(:names)"
                ),
                {"names": list(names)},
            )
        }


def test_with_task_per_node_each_dbt_node_is_a_prefect_task_run(
    agentsync_env, prefect_api, monkeypatch
):
    from dbt.cli.main import dbtRunner
    from prefect_dbt import PrefectDbtRunner

    from flows.after_load import dbt_build

    monkeypatch.setenv("AGENTSYNC_DBT_TASK_PER_NODE", "true")
    prefect_calls: list[list[str]] = []
    plain_calls: list[list[str]] = []
    _spy(monkeypatch, PrefectDbtRunner, prefect_calls)
    _spy(monkeypatch, dbtRunner, plain_calls)

    @flow(name="dbt-build-under-test")
    def build_qualia():
        return dbt_build(["qualia"])

    state = build_qualia(return_state=True)
    outcome = state.result()
    assert prefect_calls == [
        ["build", "--select", "@staging.qualia", "--indirect-selection", "cautious"]
    ]
    assert (outcome.key, outcome.status) == ("dbt.build", "done"), outcome.error
    built = _built("stg_qualia__orders", "title_orders")
    assert any(b.endswith(".stg_qualia__orders") for b in built), built
    assert "marts.title_orders" in built, built
    assert outcome.rows and outcome.rows >= 2
    # The API records task runs from the events the run sent, in the background: on a busy
    # machine the last ones arrive after the flow run has ended.
    wanted = {"model stg_qualia__orders", "model title_orders"}
    deadline = time.monotonic() + 60
    names = _task_run_names(state.state_details.flow_run_id)
    while not wanted <= set(names) and time.monotonic() < deadline:
        time.sleep(1)
        names = _task_run_names(state.state_details.flow_run_id)
    assert "model stg_qualia__orders" in names, names
    assert "model title_orders" in names, names


def test_by_default_the_build_is_one_step_run_by_dbt_itself(
    agentsync_env, prefect_api, monkeypatch
):
    from dbt.cli.main import dbtRunner
    from prefect_dbt import PrefectDbtRunner

    from agentsync.transform import run_dbt

    monkeypatch.delenv("AGENTSYNC_DBT_TASK_PER_NODE", raising=False)
    prefect_calls: list[list[str]] = []
    plain_calls: list[list[str]] = []
    _spy(monkeypatch, PrefectDbtRunner, prefect_calls)
    _spy(monkeypatch, dbtRunner, plain_calls)

    @flow(name="dbt-build-one-step")
    def build_one_model():
        return run_dbt(["run", "--select", "stg_qualia__orders"])

    state = build_one_model(return_state=True)
    result = state.result()
    assert result.success, result.failures
    assert prefect_calls == []
    assert len(plain_calls) == 1 and plain_calls[0][:3] == ["run", "--select", "stg_qualia__orders"]
    models = [r["node"] for r in result.results if r["node"].startswith("model.")]
    assert models == ["model.agentsync.stg_qualia__orders"]
    assert any(b.endswith(".stg_qualia__orders") for b in _built("stg_qualia__orders"))
    assert not any(n.startswith("model ") for n in _task_run_names(state.state_details.flow_run_id))
