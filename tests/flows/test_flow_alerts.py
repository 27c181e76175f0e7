"""Every flow ends with the real health check and alerts, delivered to a local webhook receiver.

The sources are stand-ins (one ``fub.people`` step that records a real ``ops.sync_runs`` row with
the total the "API" reported, loading nothing) and the dbt build is replaced (no models to build
from nothing); the quality gate (real GX checkpoint on the committed context), the health check
and the alerts are the real ones. A reported total with nothing loaded is a real unexplained gap,
so the gate's ``fub.people count`` check fails for that agent until the source reports 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from agentsync import agents, db, jobs
from agentsync.contracts import EntityResult, StepSpec
from dlt_pipelines.run import record_sync
from tests.flows.conftest import FUB_KEY
from tests.webhook_receiver import Receiver

GAP_CHECK = "fub.people count: source-reported total = final + excluded (no unexplained gap)"


class PeopleStandIn:
    """A ``fub.people`` step recording ``reported[user_id]`` as the API's total, loading nothing."""

    def __init__(self) -> None:
        self.reported: dict[int, int] = {}

    def run(self, user_id: int, kind, flow_run_id) -> list[EntityResult]:
        with record_sync(kind, user_id, "fub", "people", flow_run_id) as rec:
            rec.rows = 0
            rec.reported_total = self.reported.get(user_id, 0)
        return [EntityResult("people", 0)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def people(agentsync_env, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> PeopleStandIn:
    import flows.daily_sync
    import flows.onboard
    from dlt_pipelines import registry
    from flows.runner import StepOutcome

    stand_in = PeopleStandIn()
    step = StepSpec("fub", "people", stand_in.run)
    monkeypatch.setattr(
        registry,
        "all_steps",
        lambda sources=None: [step] if not sources or "fub" in sources else [],
    )
    for module in (flows.onboard, flows.daily_sync):
        monkeypatch.setattr(
            module,
            "dbt_build",
            lambda sources, landed=False: StepOutcome("dbt.build", "dbt", "done"),
        )
    monkeypatch.setenv("AGENTSYNC_ALERT_WEBHOOK_URL", receiver.url)
    return stand_in


def _stuck_job(user_id: int, hours: float) -> int:
    """Another agent's onboarding job, Started ``hours`` ago (a stuck-job health problem)."""
    agents.add_agent(user_id, f"Agent {user_id}")
    with db.begin() as conn:
        return conn.execute(
            text(
                "insert into ops.onboarding_jobs (user_id, status, started_at) "
                "values (:u, 'Started', now() - make_interval(secs => :h * 3600)) "
                "returning job_id"
            ),
            {"u": user_id, "h": hours},
        ).scalar_one()


def _post(result: dict) -> dict[str, dict]:
    return {p["step"]: p for p in result["post"]}


@pytest.mark.slow  # the real GX checkpoint over the whole registry
def test_onboarding_ends_with_health_and_alerts(people: PeopleStandIn, receiver: Receiver):
    from flows.onboard import onboard_user

    job_id = _stuck_job(99, hours=5)
    agents.add_agent(51, "Agent 51", {"fub": FUB_KEY})
    result = onboard_user(51)
    assert result["status"] == "Complete", result
    post = _post(result)
    assert post["quality.health"]["status"] == "done"
    assert (post["quality.alerts"]["status"], post["quality.alerts"]["rows"]) == ("done", 1)
    [message] = receiver.texts()
    assert "PROBLEM [warning]" in message and f"onboarding job {job_id} (user 99)" in message
    # health and alerts are the flow's end, not job steps: the job's layout is unchanged
    assert [s.step for s in jobs.get_job(51).steps] == ["fub.people", "dbt.build", "quality.gate"]


def test_onboarding_that_errors_still_alerts_before_failing(
    people: PeopleStandIn, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    import flows.onboard

    def broken_build(sources, landed=False):
        raise RuntimeError("dbt could not reach the database")

    monkeypatch.setattr(flows.onboard, "dbt_build", broken_build)
    job_id = _stuck_job(98, hours=30)
    agents.add_agent(52, "Agent 52", {"fub": FUB_KEY})
    with pytest.raises(RuntimeError, match="could not reach"):
        flows.onboard.onboard_user(52)
    assert jobs.get_job(52).status == "Error"
    [message] = receiver.texts()
    assert "PROBLEM [critical]" in message and f"onboarding job {job_id} (user 98)" in message


@pytest.mark.slow  # four real GX checkpoints over the whole registry
def test_gate_failure_alerts_once_stays_quiet_and_clears_once(
    people: PeopleStandIn, receiver: Receiver
):
    from flows.daily_sync import daily_sync
    from flows.onboard import onboard_user

    agents.add_agent(61, "Agent 61", {"fub": FUB_KEY})
    agents.add_agent(62, "Agent 62", {"fub": FUB_KEY})
    people.reported[61] = 4  # the API says 4 people; none arrive: an unexplained gap of 4

    first = daily_sync()
    post = _post(first)
    assert post["quality.gate"]["status"] == "failed"
    assert f"gx {GAP_CHECK} (agents 61)" in post["quality.gate"]["error"]
    assert post["quality.alerts"]["status"] == "done"
    [problem] = receiver.texts()
    assert "PROBLEM [critical]" in problem and f"agent 61 fails {GAP_CHECK}" in problem

    again = daily_sync()  # the gap persists: the gate still fails, the alert stays quiet
    assert _post(again)["quality.gate"]["status"] == "failed"
    assert _post(again)["quality.alerts"]["rows"] == 0
    # an onboarding's gate covers only its agent (62 is clean): it neither repeats nor clears 61's
    assert onboard_user(62)["status"] == "Complete"
    assert receiver.texts() == [problem]

    people.reported[61] = 0  # the source now reports what arrived
    fixed = daily_sync()
    assert _post(fixed)["quality.gate"]["status"] == "done"
    assert len(receiver.texts()) == 2
    resolved = receiver.texts()[1]
    assert "RESOLVED" in resolved and f"user 61 {GAP_CHECK}" in resolved
