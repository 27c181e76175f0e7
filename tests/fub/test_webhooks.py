"""Webhooks: signed deliveries from the sandbox are stored, fetched into raw and reach the marts
without a scheduled sync; bad signatures are refused; accepted events survive a crash."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from dlt_pipelines.fub import run_streams
from tests.fub.conftest import add_agent, build_marts, control, ids, rows, truth
from webhooks.fub import (
    compute_signature,
    process_pending,
    register_webhooks,
    store_events,
)

EVENTS = ["peopleCreated", "peopleUpdated", "peopleDeleted", "peopleStageUpdated"]


def _wait_processed(timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = rows("select count(*) from ops.webhook_events where status <> 'processed'")
        if pending[0][0] == 0:
            return
        time.sleep(0.5)
    raise AssertionError(rows("select event_id, status, error from ops.webhook_events"))


@pytest.mark.slow
def test_webhook_updates_reach_marts_without_sync(sandbox_server, receiver) -> None:
    root, _worker = receiver
    api = sandbox_server.url
    cred = add_agent(sandbox_server.sandbox, 102)
    run_streams(102, "onboarding", None, ["people"])
    build_marts()
    before = ids("select person_id from marts.people where user_id = 102")

    # a delivery with a bad signature is refused and nothing is stored
    body = json.dumps({"event": "peopleUpdated", "resourceIds": [1]}).encode()
    bad = httpx.post(f"{root}/fub/webhooks/102", content=body, headers={"FUB-Signature": "00"})
    assert bad.status_code == 401
    assert rows("select count(*) from ops.webhook_events")[0][0] == 0
    good = httpx.post(
        f"{root}/fub/webhooks/102",
        content=body,
        headers={"FUB-Signature": compute_signature(body, cred["system_key"])},
    )
    assert good.status_code == 200

    subs = register_webhooks(102, root, EVENTS)
    assert {s["event"] for s in subs} == set(EVENTS)
    changes = control(api, "advance", {"seconds": 3600, "fraction": 0.03})["changes"]["fub"]
    assert changes["102"]["people"]["updated"] > 0
    deliveries = httpx.get(
        f"{api}/_sandbox/fub/deliveries", params={"wait": 1}, timeout=120
    ).json()["deliveries"]
    assert deliveries and all(d["delivered"] for d in deliveries)
    _wait_processed()
    build_marts()

    expected = truth(api, 102, "people")
    live = ids("select person_id from marts.people where user_id = 102 and not is_deleted")
    assert live == set(expected["ids"])
    assert (
        ids("select person_id from marts.people where user_id = 102 and is_deleted")
        == set(expected["deleted_ids"]) & before
    )
    # no scheduled sync ran: the only non-webhook people run is the onboarding one
    kinds = rows(
        "select kind, count(*) from ops.sync_runs where user_id = 102 and entity = 'people' "
        "group by kind"
    )
    assert dict(kinds)["onboarding"] == 1
    assert dict(kinds)["webhook"] >= 1


def test_accepted_event_survives_a_crash(sandbox_env, sandbox_server) -> None:
    """An event stored (accepted) but never processed — the receiver died — is processed later."""
    add_agent(sandbox_server.sandbox, 102)
    person = truth(sandbox_server.url, 102, "people")["ids"][0]
    [event_id] = store_events(102, [{"event": "peopleUpdated", "resourceIds": [person]}])
    assert rows("select status from ops.webhook_events where event_id = :e", e=event_id)[0][0] == (
        "received"
    )
    counts = process_pending()
    assert counts["processed"] == 1
    assert rows("select status from ops.webhook_events where event_id = :e", e=event_id)[0][0] == (
        "processed"
    )
    assert ids("select id from raw_fub.people where user_id = 102") == {person}
