"""Progress inside a FUB step, read from a real page walk of the sandbox."""

from __future__ import annotations

from agentsync import progress
from dlt_pipelines.fub import FubRun
from tests.fub.conftest import add_agent, truth

AGENT = 101


def test_a_people_walk_reports_records_so_far_of_the_total(
    sandbox_env, sandbox_server, monkeypatch
) -> None:
    add_agent(sandbox_server.sandbox, AGENT)
    served = truth(sandbox_server.url, AGENT, "people")["count"]
    monkeypatch.setattr(progress, "INTERVAL_S", 0.0)
    monkeypatch.setattr("dlt_pipelines.fub.client.PAGE_LIMIT", 25)  # several pages
    seen: list[dict] = []
    stop = progress.listen(seen.append)
    try:
        with progress.step(AGENT, "fub.people"), FubRun(AGENT, "manual") as run:
            result = run.load_stream("people")
    finally:
        stop()
    walk = [e for e in seen if e["what"] == "people"]
    assert len(walk) >= 3, seen
    assert [e["done"] for e in walk] == sorted(e["done"] for e in walk)  # only ever grows
    assert walk[-1]["done"] == served == result.rows
    assert all(e["total"] == served for e in walk)
    assert {(e["user_id"], e["step"]) for e in seen} == {(AGENT, "fub.people")}
