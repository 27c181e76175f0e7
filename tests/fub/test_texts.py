"""FUB text messages cost only the people who have texts: the counters on people decide who is
asked, answers are checked against them, and a walk of every person bounds what they hide."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from dlt_pipelines.fub import FubRun
from dlt_pipelines.fub.texts import Candidate, Counters, needs_texts
from tests.fub.conftest import add_agent, control, ids, truth

AGENT = 101


def test_who_is_asked_for_texts() -> None:
    none, two, two_later = Counters(0, 0, None), Counters(1, 1, "a"), Counters(2, 1, "b")
    unknown = Counters(None, None, None)
    # onboarding: people with texts, and people whose counters are missing
    assert not needs_texts(Candidate(1, none), first_read=True)
    assert needs_texts(Candidate(1, two), first_read=True)
    assert needs_texts(Candidate(1, unknown), first_read=True)
    assert needs_texts(Candidate(1, Counters(3, None, "a")), first_read=True)
    # daily: counters that moved, a person new since the last read, missing counters
    assert not needs_texts(Candidate(1, two, before=two), first_read=False)
    assert needs_texts(Candidate(1, two_later, before=two), first_read=False)
    assert needs_texts(Candidate(1, two, before=None), first_read=False)
    assert needs_texts(Candidate(1, two, before=unknown), first_read=False)
    assert needs_texts(Candidate(1, unknown, before=unknown), first_read=False)
    assert not needs_texts(Candidate(1, none, before=two), first_read=False)


def _fub(sandbox_server) -> Any:
    return sandbox_server.sandbox.modules["fub"]


def _texting_people(sandbox_server, user_id: int) -> set[int]:
    """Person ids of the texts the sandbox serves the agent now (its ground truth)."""
    col = _fub(sandbox_server).accounts[user_id].collections["textMessages"]
    return {col.record(i)["personId"] for i in range(col.n_total) if not col.is_deleted(i)}


def _served(root: str, user_id: int) -> int:
    """textMessages requests the sandbox served the agent since the last call (then reset)."""
    counts = httpx.delete(f"{root}/_sandbox/fub/requests", timeout=30).json()
    return counts.get(str(user_id), {}).get("textMessages", 0)


def _raw_texts(user_id: int) -> set[int]:
    return ids("select distinct id from raw_fub.text_messages where user_id = :u", u=user_id)


def _onboard(root: str, user_id: int) -> tuple[Any, int]:
    """People and texts for a new agent; returns the texts result and textMessages requests."""
    with FubRun(user_id, "onboarding") as run:
        run.load_stream("people")
        _served(root, user_id)
        result = run.load_stream("text_messages")
    return result, _served(root, user_id)


@pytest.mark.slow
def test_onboarding_asks_only_people_with_texts(sandbox_env, sandbox_server) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, AGENT)
    result, asked = _onboard(root, AGENT)
    people = truth(root, AGENT, "people")["count"]
    texting = _texting_people(sandbox_server, AGENT)
    assert 0 < len(texting) < people / 2, "the agent needs people with and without texts"
    # one request per texting person (each has fewer than a page of texts), none for the rest
    assert asked == len(texting)
    assert _raw_texts(AGENT) == set(truth(root, AGENT, "textMessages")["ids"])
    assert result.rows == len(truth(root, AGENT, "textMessages")["ids"])


@pytest.mark.slow
def test_without_counters_every_person_is_asked(sandbox_env, sandbox_server) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, AGENT)
    assert control(root, "fub/text_fields", {"enabled": False}) == {"enabled": False}
    _, asked = _onboard(root, AGENT)
    assert asked == truth(root, AGENT, "people")["count"]
    assert _raw_texts(AGENT) == set(truth(root, AGENT, "textMessages")["ids"])


def _new_text(sandbox_server, user_id: int, person_idx: int) -> int:
    """A new text for an existing person, which also updates the person (its counters moved);
    returns the text's id."""
    fub = _fub(sandbox_server)
    account = fub.accounts[user_id]
    now_s = int(sandbox_server.sandbox.world.now().timestamp())
    with fub._lock:
        col = account.collections["textMessages"]
        (idx,) = fub._create(col, 1, now_s, [person_idx], random.Random(7))
        people = account.people
        people.ov.updated[person_idx] = (now_s, people.version(person_idx) + 1)
        fub._cache.clear()
        return col.id_of(idx)


@pytest.mark.slow
def test_daily_asks_people_whose_counters_moved_and_the_walk_asks_everyone(
    sandbox_env, sandbox_server, monkeypatch
) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, AGENT)
    _onboard(root, AGENT)
    # the day changes people (records updated, none texted): their counters did not move
    control(root, "advance", {"seconds": 86_400, "fraction": 0.2})
    text_id = _new_text(sandbox_server, AGENT, person_idx=4)
    with FubRun(AGENT, "daily") as run:
        people = run.load_stream("people")
        assert people.rows > 1
        _served(root, AGENT)
        texts = run.load_stream("text_messages")
    assert _served(root, AGENT) == 1  # only the person who texted
    assert texts.rows == 1 and text_id in _raw_texts(AGENT)
    # every text served is in raw (raw also keeps those of people deleted since)
    assert set(truth(root, AGENT, "textMessages")["ids"]) <= _raw_texts(AGENT)

    # the periodic walk asks every person, changed or not
    monkeypatch.setenv("AGENTSYNC_FUB_TEXTS_FULL_WALK_DAYS", "0")
    with FubRun(AGENT, "daily") as run:
        texts = run.load_stream("text_messages")
    # (every person raw holds, including those deleted since: their texts are asked for too)
    assert _served(root, AGENT) == len(ids("select distinct id from raw_fub.people"))
    assert texts.rows == len(truth(root, AGENT, "textMessages")["ids"])  # re-read whole


@pytest.mark.slow
def test_a_wrong_counter_is_caught_and_the_account_read_per_person(
    sandbox_env, sandbox_server, monkeypatch
) -> None:
    root = sandbox_server.url
    add_agent(sandbox_server.sandbox, AGENT)
    account = _fub(sandbox_server).accounts[AGENT]
    texting = sorted(_texting_people(sandbox_server, AGENT))
    real = account.text_summary
    liar = account.people.idx_of(texting[0])

    def summary(pidx: int) -> dict[str, Any]:
        out = real(pidx)
        if pidx == liar:  # says one text more than it serves
            out = {**out, "textsReceived": out["textsReceived"] + 1}
        return out

    monkeypatch.setattr(account, "text_summary", summary)
    _, asked = _onboard(root, AGENT)
    people = truth(root, AGENT, "people")["count"]
    # the answer for that person disagreed with its counters: every person skipped was asked too
    assert asked == people
    assert _raw_texts(AGENT) == set(truth(root, AGENT, "textMessages")["ids"])

    # and the counters are not trusted for this account: every changed person is asked daily
    control(root, "advance", {"seconds": 86_400, "fraction": 0.2})
    with FubRun(AGENT, "daily") as run:
        changed = run.load_stream("people").rows
        _served(root, AGENT)
        run.load_stream("text_messages")
    assert changed > 1
    assert _served(root, AGENT) == changed
