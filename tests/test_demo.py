"""``agentsync demo``: the whole job on a test database (slow), and re-run idempotence (fast)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import text

from agentsync import agents, db


def test_demo_agents_register_idempotently(sandbox_env, sandbox_server):
    from agentsync.commands.demo import _register_agents

    first = _register_agents(sandbox_server.sandbox)
    second = _register_agents(sandbox_server.sandbox)  # a re-run refreshes, never duplicates
    expected = [a["user_id"] for a in sandbox_server.sandbox.demo_agents()]
    assert first == second == expected
    listed = {a.user_id: set(a.integrations) for a in agents.list_agents()}
    assert listed == {
        a["user_id"]: set(a["credentials"]) for a in sandbox_server.sandbox.demo_agents()
    }


def _table_rows(out: str) -> dict[tuple[int, str, str], list[str]]:
    """The demo's per-agent, per-source table: ``(agent, source, run) -> [entities, rows, ...]``."""
    lines = out[out.index("agentsync demo — per agent and source") :].splitlines()
    header = next(line for line in lines if "agent" in line and "took" in line)
    columns = [c.strip() for c in header.strip("┃│ ").split("┃" if "┃" in header else "│")]
    assert columns == ["agent", "source", "run", "entities", "rows", "status", "took"], header
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == len(columns) and cells[0].isdigit():
            rows[(int(cells[0]), cells[1], cells[2])] = cells[3:]
    return rows


@pytest.mark.slow
def test_demo_runs_end_to_end(agentsync_env, tmp_path):
    from agentsync.quality.gx import data_docs_index
    from agentsync.transform import target_dir

    # The demo as the README runs it (dbt docs included); wide enough that no line wraps.
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), COLUMNS="250")
    done = subprocess.run(
        [sys.executable, "-m", "agentsync.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out = done.stdout
    assert "agentsync demo — per agent and source" in out, done.stderr[-3000:]
    with db.begin() as conn:
        jobs = dict(conn.execute(text("select user_id, status from ops.onboarding_jobs")).all())
        steps = conn.execute(
            text("select step, status, error from ops.onboarding_steps order by job_id, ordinal")
        ).all()
        kinds = {
            (r.user_id, r.source, r.kind)
            for r in conn.execute(text("select distinct user_id, source, kind from ops.sync_runs"))
        }
        connected = conn.execute(text("select user_id, integration from ops.credentials")).all()
        summary = conn.execute(
            text(
                """
                select user_id, source, kind,
                       count(*) filter (where entity <> '*') as entities,
                       coalesce(sum(rows), 0) as rows,
                       count(*) filter (where status = 'failed') as failed,
                       count(*) filter (where status = 'skipped') as skipped,
                       extract(epoch from max(ended_at) - min(started_at)) as seconds
                  from ops.sync_runs
                 group by user_id, source, kind
                """
            )
        ).all()
    # A clean demo: every job Complete, every step done (or skipped for an unconnected
    # integration), the dbt build and the quality gate passed.
    assert jobs == {101: "Complete", 102: "Complete", 103: "Complete"}, (jobs, steps)
    for step, status, error in steps:
        assert status in ("done", "skipped"), (step, status, error)
        if status == "skipped":
            assert "not connected" in error, (step, error)
    assert {s for s, st, _ in steps if st == "done"} >= {"dbt.build", "quality.gate"}
    # Onboarding and the daily sync both ran for every connected (agent, source).
    for user_id, integration in connected:
        assert (user_id, integration, "onboarding") in kinds
        assert (user_id, integration, "daily") in kinds

    # The table: one row per (agent, source, run) of the three demo agents, each with the
    # entities, rows, status and time that ops.sync_runs records for it.
    table = _table_rows(out)
    assert {u for u, _, _ in table} == set(jobs)
    assert set(table) == {(r.user_id, r.source, r.kind) for r in summary}
    for r in summary:
        entities, rows, status, took = table[(r.user_id, r.source, r.kind)]
        assert (entities, rows) == (str(r.entities), str(r.rows)), (r, table[r[:3]])
        expected = "failed" if r.failed else "skipped" if r.skipped and not r.entities else "ok"
        assert status == expected, (r, status)
        assert took == f"{float(r.seconds or 0):.1f}s", (r, took)
    onboarded = sum(r.rows for r in summary if r.kind == "onboarding")
    assert onboarded > 0  # the demo loaded data, and the table says how much

    # The closing summary: per agent, the rows each main mart holds for it (labelled by what a
    # row is), and the gate's checks counted by verdict.
    marts = out[out.index("rows per agent in the main marts") :].splitlines()
    header = next(line for line in marts if "agent" in line and "FUB people" in line)
    assert "failing gate checks" in header and "reZEN transactions" in header, header
    with db.begin() as conn:
        people = dict(
            conn.execute(text("select user_id, count(*) from marts.people group by 1")).all()
        )
    for user_id in jobs:
        row = next(line for line in marts if line.strip("│ ").startswith(f"{user_id} "))
        cells = [c.strip() for c in row.strip().strip("│").split("│")]
        assert cells[1] == f"{people.get(user_id, 0):,}", (row, people)
        assert cells[-1] == "0", row  # a clean demo: no failing check names the agent
    assert re.search(r"quality gate\S* passed: [1-9]\d* checks passed, 0 failed", out), out[-2000:]

    # Where to open the dbt docs and the Data Docs, and both exist.
    dbt_index = target_dir() / "index.html"
    assert f"dbt docs {dbt_index}  (serve: agentsync docs --serve)" in out
    assert dbt_index.is_file()
    data_docs = data_docs_index()
    assert f"Data Docs {data_docs}\n" in out
    assert data_docs.is_file()
    # Each validation run is named after the flow run that ran the gate and its agents: the
    # onboardings' gates and the daily sync's, never GX's __none__.
    runs = {p.name for p in (data_docs.parent / "validations").glob("*/*/*") if p.is_dir()}
    assert runs and not any(r.startswith("__none__") for r in runs), runs
    for user_id in (101, 102, 103):
        assert any(r.startswith(f"onboard-{user_id}_agents-{user_id}_") for r in runs), runs
    assert any(r.startswith("daily-") for r in runs), runs
    # The exit code tells the truth about the run: 0, and the daily sync reported.
    assert "daily sync steps" in out
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
