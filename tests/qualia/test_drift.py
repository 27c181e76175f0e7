"""A renamed Qualia field is caught: Qualia keeps each order as one JSON column (issue 14).

Qualia's raw table has one ``order`` column holding the vendor's record, so a renamed field
(the sandbox's ``drift_renamed`` serves ``order_number`` as ``file_number``) changes no column:
the column drift check alone saw nothing and ``title_orders.order_number`` went NULL with every
check green. Now the JSON keys the staging views read are judged like columns: after a clean
history, a daily re-read under the new name fails the gate naming ``qualia.orders`` field
``order.order_number`` and the agent. On an onboarding there is no history to compare with; the
mart's ``not_null`` test on ``order_number`` fails the gate by name instead.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from agentsync.entities import all_entities
from agentsync.quality.gate import run_quality_gate
from agentsync.quality.gx import build_context
from agentsync.transform import DbtError, run_dbt
from dlt_pipelines.qualia import run_orders
from tests.skyslope.conftest import rows, truth

pytestmark = pytest.mark.slow

AGENT = 103  # 9 orders on one page
MODELS = ["--select", "staging.qualia", "marts.transactions.title_orders"]


def _spec() -> list:
    return [e for e in all_entities(["qualia"]) if e.entity == "orders"]


def _rename(server) -> None:
    spec = "qualia:/graphql:drift_renamed:1"
    assert httpx.post(f"{server.url}/_sandbox/faults", json={"spec": spec}).status_code == 200


def _build() -> None:
    """Build the Qualia models; their tests may fail (the gate below is what judges them)."""
    with contextlib.suppress(DbtError):
        run_dbt(["build", *MODELS])


def _filled() -> int:
    return rows("select count(order_number) from marts.title_orders where user_id = :u", u=AGENT)[
        0
    ][0]


def test_a_renamed_order_field_fails_the_gate_by_name(
    register_agents, sandbox_server, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("AGENTSYNC_QUALIA_FULL_REREAD_DAYS", "0")  # every daily run reads all
    register_agents(AGENT)
    total = truth(sandbox_server, "qualia", AGENT, "orders")["count"]
    assert total >= 5, "the agent needs enough orders to judge a load"
    context = tmp_path / "expectations"
    build_context(_spec(), root=context)

    def gate():
        return run_quality_gate([AGENT], entities=_spec(), context_root=context, dbt_args=None)

    run_orders(AGENT, "onboarding", None)
    run_orders(AGENT, "daily", None)
    _build()
    assert _filled() == total
    clean = gate()
    assert not clean.drift, [d.line for d in clean.drift]

    _rename(sandbox_server)
    run_orders(AGENT, "daily", None)
    _build()
    assert _filled() == 0, "the rename nulls the mart column: what the gate must catch"
    drifted = gate()
    assert not drifted.success
    line = next((f for f in drifted.failures if "order.order_number" in f), None)
    assert line == (
        f"drift qualia.orders field order.order_number: null in {total} of {total} rows of the "
        f"newest load(s), populated in 100% of earlier rows (agents {AGENT})"
    ), drifted.failures
    assert [(d.column, d.kind, d.user_ids) for d in drifted.drift] == [
        ("order.order_number", "stopped", [AGENT])
    ]
    # and the name it arrives under now is listed as new, not read by any model
    new = [(c.column, c.populated) for c in drifted.new_columns]
    assert new == [("order.file_number", {AGENT: total})], new


def test_a_field_renamed_from_the_first_load_fails_the_onboarding_gate(
    register_agents, sandbox_server, tmp_path: Path
) -> None:
    register_agents(AGENT)
    context = tmp_path / "expectations"
    build_context(_spec(), root=context)
    _rename(sandbox_server)
    run_orders(AGENT, "onboarding", None)
    _build()
    assert _filled() == 0
    result = run_quality_gate(
        [AGENT], entities=_spec(), context_root=context, dbt_args=("test", *MODELS)
    )
    assert not result.success
    assert any("not_null_title_orders_order_number" in f for f in result.failures), result.failures
