"""What an operator sees of a flow run in Prefect: its name, a log line per step, an artifact.

Read back from Prefect's API (the temporary local one) after real flow runs over stand-in
sources, the way the UI shows them: the run is found by its name, its log has one line per step
with rows and seconds (a failed step as a warning), and its markdown artifact holds the step
table and the quality gate's verdict with each failing check.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from agentsync import agents
from tests.flows.conftest import REZEN_KEY, prefect_client, run_logs

AGENT = 61


def _artifact(key: str, flow_run_id) -> str:
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with prefect_client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert len(found) == 1, f"artifact {key} of run {flow_run_id}: {found}"
    return str(found[0].data)


def _failing_gate(monkeypatch):
    """The gate step as the real one reports a failing check (the stand-in sources built no
    marts for a real gate to check)."""
    import flows.onboard
    from agentsync.quality.gate import GateResult
    from agentsync.quality.gx import FailedCheck
    from flows.after_load import GateOutcome

    line = "gx rezen.transactions count: every raw id is in the final table (agents 61)"
    result = GateResult(
        success=False,
        failures=[line],
        checks=[FailedCheck("rezen.transactions count", [AGENT], line)],
        user_ids=[AGENT],
    )
    outcome = GateOutcome("quality.gate", "quality", "failed", error=line, result=result)
    monkeypatch.setattr(flows.onboard, "quality_steps", lambda user_ids, kind: [outcome])
    return line


def test_onboarding_run_is_named_logged_and_reported(
    fake_source, prefect_api, run_logs_at_info, monkeypatch
):
    from flows.onboard import onboard_user

    agents.add_agent(AGENT, "Agent 61", {"rezen": REZEN_KEY})
    fake_source.fail["rezen.network"] = RuntimeError("reZEN network page 3 said 502")
    gate_line = _failing_gate(monkeypatch)

    state = onboard_user(AGENT, return_state=True)
    result = state.result()
    assert result["status"] == "Partial"
    run_id = state.state_details.flow_run_id

    with prefect_client() as client:
        assert client.read_flow_run(run_id).name == f"onboard-{AGENT}"

    logs = run_logs(run_id)
    text = "\n".join(m for _, m in logs)
    # One line per step that ran, with what it counted and how long it took.
    for line in (
        f"agent {AGENT} rezen.agent done: 1 rows in ",
        f"agent {AGENT} rezen.transactions done: 7 rows in ",
        f"agent {AGENT} dbt.build done: 1 rows in ",
    ):
        assert line in text, text
    failed = [m for lvl, m in logs if "rezen.network failed" in m]
    assert failed and "reZEN network page 3 said 502" in failed[0], text
    assert all(lvl == logging.WARNING for lvl, m in logs if "rezen.network failed" in m)
    assert f"agent {AGENT} quality.gate failed" in text
    assert "\x1b[" not in text

    report = _artifact(f"onboard-{AGENT}", run_id)
    assert "**Partial**" in report
    assert "| rezen.transactions | done | 7 rows |" in report, report
    assert "| rezen.network | failed |" in report and "page 3 said 502" in report, report
    assert "| fub.people | skipped |" in report and "not connected" in report, report
    assert "**Quality gate:** FAILED" in report, report
    assert f"- FAIL {gate_line}" in report, report


def test_daily_run_is_named_after_its_day_and_agents(fake_source, prefect_api, run_logs_at_info):
    from agentsync.settings import get_settings
    from flows.daily_sync import daily_sync

    agents.add_agent(AGENT, "Agent 61", {"rezen": REZEN_KEY})
    zone = ZoneInfo(get_settings().timezone)
    before = datetime.now(zone).date()
    state = daily_sync(user_ids=[AGENT], return_state=True)
    after = datetime.now(zone).date()
    assert state.result()["failed"] == 0
    run_id = state.state_details.flow_run_id

    with prefect_client() as client:
        name = client.read_flow_run(run_id).name
    # the day in AGENTSYNC_TIMEZONE when the run started (a run across midnight: either day)
    assert name in {f"daily-{d:%Y-%m-%d}-agents-{AGENT}" for d in (before, after)}, name

    text = "\n".join(m for _, m in run_logs(run_id))
    assert f"agent {AGENT} rezen.transactions done: 7 rows in " in text, text
    report = _artifact("daily-sync", run_id)
    assert f"| {AGENT} | rezen.transactions | done | 7 rows |" in report, report
    assert "| all | dbt.build | done |" in report, report
