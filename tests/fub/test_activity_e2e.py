"""Reference + activity streams for an OAuth agent: counts match the truth, the token is
refreshed and stored back encrypted, text messages only for changed people on the next run."""

from __future__ import annotations

import pytest

from agentsync import agents
from dlt_pipelines.fub import FubRun, steps
from tests.fub.conftest import add_agent, build_marts, control, rows, truth

pytestmark = pytest.mark.slow

MARTS = {
    "deals": ("deals", "deal_id"),
    "events": ("events", "event_id"),
    "calls": ("calls", "call_id"),
    "appointments": ("appointments", "appointment_id"),
    "textMessages": ("text_messages", "text_message_id"),
    "users": ("fub_users", "fub_user_id"),
    "stages": ("stages", "stage_id"),
    "pipelines": ("pipelines", "pipeline_id"),
    "groups": ("groups", "group_id"),
}


def test_activity_and_oauth_refresh(sandbox_env, sandbox_server) -> None:
    root = sandbox_server.url
    cred = add_agent(sandbox_server.sandbox, 103)
    assert "access_token" in cred, "agent 103 is the sandbox's OAuth agent"
    by_name = {s.name: s for s in steps()}
    assert [s.name for s in steps()] == ["reference", "people", "activity", "deletions"]
    for name in ("reference", "people", "activity"):
        by_name[name].run(103, "onboarding", None)
    build_marts()
    for entity, (mart, id_col) in MARTS.items():
        expected = truth(root, 103, entity)
        got = {r[0] for r in rows(f"select {id_col} from marts.{mart} where user_id = 103")}
        assert got == set(expected["ids"]), entity

    # The access token lives 60 sandbox minutes: after two hours it is refused and refreshed.
    control(root, "advance", {"seconds": 7200, "fraction": 0})
    raw_stages = rows("select count(*) from raw_fub.stages where user_id = 103")[0][0]
    with FubRun(103, "daily") as run:
        stages = run.load_stream("stages")
        assert run.auth.refreshes == 1
        # read in full, as every run reads reference data, and nothing had changed: none landed
        assert stages.reported_total == len(truth(root, 103, "stages")["ids"]) > 0
        assert stages.rows == 0
        requests_before = run.client.requests
        texts = run.load_stream("text_messages")
        # no person changed since the last text run: nobody to ask about
        assert texts.rows == 0
        assert run.client.requests == requests_before
    assert rows("select count(*) from raw_fub.stages where user_id = 103")[0][0] == raw_stages
    # the reference marts flag rows missing from the newest load: a quiet day flags nothing
    build_marts()
    live = rows("select stage_id from marts.stages where user_id = 103 and not is_deleted")
    assert {r[0] for r in live} == set(truth(root, 103, "stages")["ids"])
    stored = agents.get_credentials(103, "fub")
    assert stored["access_token"] != cred["access_token"]
    assert stored["refresh_token"] == cred["refresh_token"]
    # the next run uses the stored token without refreshing again
    with FubRun(103, "daily") as run:
        run.load_stream("stages")
        assert run.auth.refreshes == 0
