"""End to end with a real source: FUB people over the sandbox → dlt → dbt → reconcile + gate.

A clean agent reconciles exactly with the sandbox's ground truth and passes the gate; an agent
whose load lost a page (the sandbox's ``lose_page`` record fault: the page's records silently
vanish while the reported total stays) shows an unexplained gap of exactly the lost records and
fails the gate, which names the check and the agent. With only FUB's models built, the gate's
``dbt test`` skips the tests over the other sources' models (naming why) and still fails on a
broken FUB mart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from agentsync import agents, db
from agentsync.entities import all_entities
from agentsync.quality.gate import run_quality_gate
from agentsync.quality.gx import build_context
from agentsync.quality.reconcile import reconcile
from agentsync.transform import run_dbt

pytestmark = pytest.mark.slow

FUB_MODELS = ["--select", "path:models/staging/fub", "path:models/marts/crm"]


@pytest.fixture
def small_sandbox(agentsync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from sandbox.core import start_in_thread

    running = start_in_thread(seed=42, scale=300)
    for key, value in running.sandbox.env().items():
        monkeypatch.setenv(key, value)
    yield running
    running.stop()


def _truth(root: str, user_id: int) -> dict[str, Any]:
    resp = httpx.get(
        f"{root}/_sandbox/truth/fub", params={"user_id": user_id, "entity": "people"}, timeout=60
    )
    resp.raise_for_status()
    return resp.json()[str(user_id)]["people"]


def test_fub_people_reconcile_and_gate_with_a_lost_page(small_sandbox: Any, tmp_path: Path) -> None:
    from dlt_pipelines.fub import FubRun

    root = small_sandbox.url
    fub_agents = [a for a in small_sandbox.sandbox.demo_agents() if "fub" in a["credentials"]]
    clean, lossy = fub_agents[0]["user_id"], fub_agents[1]["user_id"]
    for a in fub_agents[:2]:
        agents.add_agent(a["user_id"], a["name"], {"fub": a["credentials"]["fub"]})
    truth_clean, truth_lossy = _truth(root, clean), _truth(root, lossy)
    assert truth_lossy["count"] > 2, "the lossy agent needs more people than one kept record"

    with FubRun(clean, "manual") as run:
        run.load_stream("people")
    resp = httpx.post(
        f"{root}/_sandbox/faults", json={"spec": "fub:/v1/people*:lose_page:1"}, timeout=30
    )
    resp.raise_for_status()
    with FubRun(lossy, "manual") as run:
        run.load_stream("people")
    built = run_dbt(["build", *FUB_MODELS], raise_on_failure=False)
    assert built.success, built.failures

    people = [e for e in all_entities(["fub"]) if e.entity == "people"]
    rows = {r.user_id: r for r in reconcile(entities=people)}

    ok = rows[clean]
    assert ok.ok, ok.problems
    assert ok.reported == truth_clean["count"]
    assert ok.raw_ids == ok.mart_rows == truth_clean["count"]
    assert ok.excluded["trashed"] == len(truth_clean["trashed_ids"])
    assert ok.final == truth_clean["count"] - len(truth_clean["trashed_ids"])
    assert ok.unexplained_gap == 0

    bad = rows[lossy]
    lost = truth_lossy["count"] - bad.raw_ids
    assert lost > 0, "the lose_page fault should have dropped records"
    assert bad.reported == truth_lossy["count"]
    assert bad.unexplained_gap == lost and not bad.ok

    context = tmp_path / "expectations"
    build_context(people, root=context)
    # every dbt test, as `agentsync quality-gate` runs them: only FUB's models are built, so the
    # tests over the other sources' models are skipped with the reason, and the gate passes
    gate_clean = run_quality_gate([clean], entities=people, context_root=context)
    assert gate_clean.success, gate_clean.failures
    assert gate_clean.data_docs_path and Path(gate_clean.data_docs_path).is_file()
    reasons = {t.name: t.reason for t in gate_clean.skipped}
    assert any(r.endswith("no agent has loaded skyslope yet") for r in reasons.values()), reasons
    assert any(r.endswith("no agent has loaded rezen yet") for r in reasons.values()), reasons
    assert not [n for n in reasons if "_people_" in n and n.startswith("dbt test.agentsync.fub")]

    gate_all = run_quality_gate(None, entities=people, context_root=context, dbt_args=None)
    assert not gate_all.success
    head = (
        "gx fub.people count: source-reported total = final + excluded (no unexplained gap)"
        f" (agents {lossy}): unexplained gap of "
    )
    assert [f for f in gate_all.failures if f.startswith(head) and "(allowed 0)" in f], (
        gate_all.failures
    )

    # a duplicated mart row: dbt's uniqueness test fails and the gate names it
    with db.begin() as conn:
        conn.execute(
            text("insert into marts.people select * from marts.people where user_id = :u limit 1"),
            {"u": clean},
        )
    gate_dup = run_quality_gate([clean], entities=people, context_root=context)
    assert not gate_dup.success
    assert [f for f in gate_dup.failures if f.startswith("dbt test.") and "unique" in f]
    assert gate_dup.skipped == gate_clean.skipped  # a failing built model is never skipped
