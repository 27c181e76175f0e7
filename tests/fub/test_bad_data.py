"""Malformed records are quarantined with a reason; drift lands in raw; the run goes on."""

from __future__ import annotations

import pytest

from dlt_pipelines.fub import run_streams
from tests.fub.conftest import add_agent, build_marts, control, ids, rows, truth

pytestmark = pytest.mark.slow


def test_malformed_quarantined_and_drift_lands(sandbox_env, sandbox_server) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, 102)
    control(root, "faults", {"spec": "fub:/v1/people*:malformed:1,fub:/v1/people*:drift_added:1"})
    [result] = run_streams(102, "manual", None, ["people"])
    expected = truth(root, 102, "people")
    assert result.quarantined == 1
    assert result.rows == expected["count"] - 1
    quarantined = rows(
        "select entity, reason, record from ops.quarantine where user_id = 102 and source = 'fub'"
    )
    assert len(quarantined) == 1
    assert quarantined[0].entity == "people"
    assert quarantined[0].reason == "no id"
    assert "created" in quarantined[0].record  # the record itself is kept for inspection
    drift = rows(
        "select count(*) from raw_fub.people where user_id = 102 and sandbox_drift_field is not null"
    )[0][0]
    assert drift > 0
    build_marts()
    mart = ids("select person_id from marts.people where user_id = 102")
    assert len(mart) == expected["count"] - 1
    assert mart < set(expected["ids"])
