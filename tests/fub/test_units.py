"""Fast checks of the FUB pieces: validation, signatures, event mapping, paging over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import uuid
from decimal import Decimal

import httpx
import pytest

from agentsync.errors import IntegrationError
from dlt_pipelines.fub.auth import load_auth
from dlt_pipelines.fub.client import FubClient
from dlt_pipelines.fub.settings import STREAMS
from dlt_pipelines.fub.validate import InvalidRecord, check
from tests.fub.conftest import add_agent, truth
from webhooks.fub import compute_signature, event_ids, signature_ok, stream_of


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"updated": "2025-01-01T00:00:00Z"}, "no id"),
        ({"id": "12"}, "id is not an integer: '12'"),
        ({"id": True}, "id is not an integer: True"),
        ({"id": 1, "updated": 12345}, "updated is not an ISO-8601 timestamp: 12345"),
        ({"id": 1, "price": "a lot"}, "price is not a number: 'a lot'"),
        ([1, 2], "record is a list, not an object"),
    ],
)
def test_bad_people_are_refused_with_a_reason(record, reason) -> None:
    with pytest.raises(InvalidRecord) as err:
        check(STREAMS["people"], record)
    assert str(err.value) == reason


def test_good_person_keeps_drift_and_exact_money() -> None:
    row, cursor = check(
        STREAMS["people"],
        {"id": 7, "updated": "2025-06-02T09:11:47Z", "price": 825000.5, "brandNew": {"x": 1}},
    )
    assert row["price"] == Decimal("825000.5")
    assert row["brandNew"] == {"x": 1}
    assert cursor is not None and cursor.isoformat() == "2025-06-02T09:11:47+00:00"


def test_text_message_needs_person() -> None:
    with pytest.raises(InvalidRecord, match="personId"):
        check(STREAMS["text_messages"], {"id": 1, "personId": None})


def test_signature_matches_research_formula() -> None:
    body, key = b'{"event":"peopleUpdated","resourceIds":[1]}', "k3y"
    expected = hmac.new(key.encode(), base64.b64encode(body), hashlib.sha256).hexdigest()
    assert compute_signature(body, key) == expected
    assert signature_ok(body, expected, key)
    assert signature_ok(body, f"sha256={expected}", key)
    assert not signature_ok(body + b" ", expected, key)
    assert not signature_ok(body, None, key)
    assert not signature_ok(body, expected, None)


@pytest.mark.parametrize(
    ("event", "stream", "action"),
    [
        ("peopleCreated", "people", "Created"),
        ("peopleStageUpdated", "people", "Updated"),
        ("peopleDeleted", "people", "Deleted"),
        ("textMessagesCreated", "text_messages", "Created"),
        ("dealsUpdated", "deals", "Updated"),
        ("stageUpdated", "stages", "Updated"),
        ("notesCreated", None, ""),
    ],
)
def test_event_names_map_to_streams(event, stream, action) -> None:
    assert stream_of(event) == (stream, action)


def test_event_ids_trust_only_our_base_url(monkeypatch) -> None:
    from agentsync.settings import load_settings

    settings = load_settings(fub_base_url="https://api.followupboss.com/v1")
    assert event_ids({"resourceIds": [3, 1, 3]}, settings) == [1, 3]
    assert event_ids({"uri": "https://api.followupboss.com/v1/people?id=5,6"}, settings) == [5, 6]
    assert event_ids({"uri": "https://evil.example/v1/people?id=5"}, settings) == []


def test_agents_of_one_account_share_a_gate_key(sandbox_env, sandbox_server) -> None:
    add_agent(sandbox_server.sandbox, 101)
    add_agent(sandbox_server.sandbox, 102)
    with FubClient(load_auth(101)) as a, FubClient(load_auth(102)) as b:
        assert a.fingerprint.startswith("fub:account:")
        assert a.fingerprint != b.fingerprint  # two accounts in the sandbox: two gates


def test_paging_resends_filters_with_next(sandbox_env, sandbox_server) -> None:
    """docs/vendors/stack.md §1: check nextLink keeps our params, and that we send them anyway."""
    add_agent(sandbox_server.sandbox, 102)
    seen: list[httpx.URL] = []
    with FubClient(load_auth(102)) as client:
        api = client._client("global")
        api._client.event_hooks["request"] = [lambda req: seen.append(req.url)]
        pages = list(client.pages(STREAMS["people"], {"createdAfter": "2020-01-01T00:00:00Z"}))
        first = api.get_json("people", {"createdAfter": "2020-01-01T00:00:00Z", "limit": 100})[0]
    assert len(pages) > 2
    assert "createdAfter=" in first["_metadata"]["nextLink"]  # FUB's nextLink keeps them
    for url in seen[1 : len(pages)]:
        assert url.params.get("next")
        assert url.params.get("createdAfter") == "2020-01-01T00:00:00Z"
        assert url.params.get("includeTrash") == "true"
        assert "offset" not in url.params
    total = truth(sandbox_server.url, 102, "people")
    assert sum(len(p.records) for p in pages) <= total["count"]


def test_refused_key_is_an_integration_error_without_the_secret(
    sandbox_env, sandbox_server
) -> None:
    from agentsync import agents

    agents.add_agent(102, "Wrong Key", {"fub": {"api_key": "not-the-right-key-1234"}})
    with pytest.raises(IntegrationError) as err, FubClient(load_auth(102)) as client:
        list(client.pages(STREAMS["stages"]))
    assert "not-the-right-key-1234" not in str(err.value)
    assert "agent 102, fub" in str(err.value)


def test_fub_without_a_system_key_warns_once_per_flow_run(
    sandbox_env, sandbox_server, caplog
) -> None:
    """FUB limits an unregistered system harder: a run without X-System-Key says so, once."""
    from agentsync import agents
    from dlt_pipelines.fub import run_streams

    demo = {a["user_id"]: a for a in sandbox_server.sandbox.demo_agents()}
    cred = dict(demo[102]["credentials"]["fub"])
    assert cred.pop("system_key", None), "the sandbox credential carries a system key"
    agents.add_agent(102, "No System Key", {"fub": cred})
    add_agent(sandbox_server.sandbox, 101)  # registered: never warned about
    run_id = f"flow-{uuid.uuid4().hex}"

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "without X-System-Key" in r.message]

    with caplog.at_level(logging.WARNING, logger="dlt_pipelines.fub.auth"):
        run_streams(102, "manual", run_id, ["stages"])
        run_streams(102, "manual", run_id, ["users"])  # a second step of the same flow run
        run_streams(101, "manual", run_id, ["stages"])
        assert warnings() == [
            "agent 102: FUB is called without X-System-Key (set AGENTSYNC_FUB_SYSTEM_KEY or the"
            " credential's system_key): FUB gives an unregistered system lower rate limits"
        ]
        run_streams(102, "manual", f"{run_id}-next", ["stages"])  # the next run warns again
        assert len(warnings()) == 2
    assert "X-System-Key" not in load_auth(102).headers()


def test_the_look_back_boundary_keeps_the_last_second_as_read() -> None:
    from datetime import UTC, datetime, timedelta

    from dlt_pipelines.fub.settings import CURSOR_LOOKBACK_SECONDS
    from dlt_pipelines.fub.source import boundary
    from dlt_pipelines.landed import row_digest

    top = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    a = {"id": 1, "updated": top, "name": "A"}
    b = {"id": 2, "updated": top - timedelta(seconds=CURSOR_LOOKBACK_SECONDS), "name": "B"}
    old = {"id": 3, "updated": top - timedelta(seconds=CURSOR_LOOKBACK_SECONDS + 1), "name": "C"}
    seen = [(r["updated"], str(r["id"]), row_digest(r)) for r in (a, b, old)]
    kept = boundary(seen, top)
    assert kept == {"1": row_digest(a), "2": row_digest(b)}  # in the window; 3 is not re-read
    # the same record with any field changed hashes differently, so it lands again
    assert row_digest({**a, "name": "A2"}) != row_digest(a)
    assert row_digest(dict(reversed(list(a.items())))) == row_digest(a)  # key order is not content


def _cursor_table(doc: str) -> dict[str, str]:
    """The rows of the cursor table in a module docstring, by their first word."""
    return {line.split()[0]: line for line in doc.splitlines() if line[:1].isalpha()}


def test_the_cursor_table_says_what_the_streams_ask() -> None:
    """FUB's cursors are written in one place (the table in ``fub/source.py``'s docstring); the
    streams' parameters (``settings.STREAMS``) are the code. A changed cursor parameter, or a new
    stream, fails here until the table says it."""
    import dlt_pipelines.fub.source as fub_source_module
    from dlt_pipelines.fub.settings import REFERENCE_STREAMS

    rows = _cursor_table(fub_source_module.__doc__ or "")
    for name, stream in STREAMS.items():
        row = rows["reference"] if name in REFERENCE_STREAMS else rows.get(name)
        assert row is not None, f"{name} has no row in fub/source.py's cursor table"
        if name in REFERENCE_STREAMS:
            assert name in row, (name, row)
        if stream.cursor_param:
            assert f"``{stream.cursor_param}``" in row, (name, row)
        else:
            assert "none" in row or "per person" in row, (name, row)
    # the control: a stream asked by another parameter would not match its row
    assert "``createdAfter``" not in rows["people"]
