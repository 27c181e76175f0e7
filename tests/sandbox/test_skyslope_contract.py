"""Contract tests for the SkySlope replica over plain HTTP (research part B)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.skyslope import NULL_DATE, hmac_signature

AGENT = 101


def _stamp(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _login(base: str, cred: dict[str, str], *, secret: str | None = None, stamp: str | None = None):
    ts = stamp or _stamp()
    sig = hmac_signature(
        secret or cred["access_secret"], cred["client_id"], cred["client_secret"], ts
    )
    return httpx.post(
        f"{base}/auth/login",
        json={"ClientId": cred["client_id"], "ClientSecret": cred["client_secret"]},
        headers={"Authorization": f"SS {cred['access_key']}:{sig}", "Timestamp": ts},
    )


@pytest.fixture
def sky(sandbox_server):
    base = sandbox_server.sandbox.base_urls()["skyslope_base_url"]
    cred = sandbox_server.sandbox.modules["skyslope"].credentials(AGENT)
    return sandbox_server, base, cred


def _session(base: str, cred: dict[str, str]) -> dict[str, str]:
    resp = _login(base, cred)
    assert resp.status_code == 200, resp.text
    return {"Session": resp.json()["Session"]}


def test_login_validates_hmac_and_timestamp(sky):
    _, base, cred = sky
    ok = _login(base, cred)
    assert ok.status_code == 200
    assert set(ok.json()) == {"Session", "Expiration"}
    assert _login(base, cred, secret="wrong").status_code == 401
    assert _login(base, cred, stamp=_stamp(timedelta(minutes=-30))).status_code == 401
    assert httpx.get(f"{base}/api/users").status_code == 401
    assert httpx.get(f"{base}/api/users", headers={"Session": "nope"}).status_code == 401


def test_pages_are_fixed_ten_one_based_and_match_truth(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    truth = httpx.get(
        f"{running.url}/_sandbox/truth/skyslope", params={"user_id": AGENT, "entity": "sales"}
    ).json()[str(AGENT)]["sales"]
    seen, page = [], 1
    while True:
        resp = httpx.get(
            f"{base}/api/files/sales", params={"pageNumber": page, "pageSize": 50}, headers=headers
        )
        assert resp.status_code == 200
        assert "x-ratelimit-remaining" in resp.headers and "x-ratelimit-reset" in resp.headers
        body = resp.json()
        rows = body["value"]["sales"]
        assert len(rows) <= 10
        seen.extend(r["saleGuid"] for r in rows)
        if not any(link["rel"] == "next" for link in body["links"]):
            break
        assert len(rows) == 10
        page += 1
    assert truth["count"] > 10
    assert sorted(seen) == sorted(truth["ids"])
    assert page == -(-truth["count"] // 10)


def test_detail_carries_quirks_and_skyslope_formatting(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    ids = httpx.get(
        f"{running.url}/_sandbox/truth/skyslope", params={"user_id": AGENT, "entity": "sales"}
    ).json()[str(AGENT)]["sales"]["ids"]
    files = [
        httpx.get(f"{base}/api/files/sales/{g}", headers=headers).json()["value"]["sale"]
        for g in ids
    ]
    assert all("Z" not in f["createdOn"] and "+" not in f["createdOn"] for f in files)
    assert any(f["actualClosingDate"] == NULL_DATE for f in files)
    assert any(any(ord(c) < 32 for c in f["property"]["streetAddress"]) for f in files)
    assert all(isinstance(f["salePrice"], int | float) for f in files)
    suffixes = {f["property"]["streetAddress"].split()[-1] for f in files}
    assert suffixes & {"Street", "Court", "Drive", "Avenue", "Road", "Lane", "Boulevard"}
    missing = httpx.get(f"{base}/api/files/sales/not-a-guid", headers=headers)
    assert missing.status_code == 422


def test_date_window_filters_by_modified(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    future = int((datetime.now(UTC) + timedelta(days=3650)).timestamp())
    resp = httpx.get(f"{base}/api/files/sales", params={"earliestDate": future}, headers=headers)
    assert resp.json()["value"]["sales"] == []
    httpx.post(f"{running.url}/_sandbox/advance", json={"seconds": 3600, "fraction": 0.5})
    now = datetime.fromisoformat(httpx.get(f"{running.url}/_sandbox/state").json()["now"])
    since = int((now - timedelta(minutes=5)).timestamp())
    headers = _session(base, cred)
    changed = httpx.get(f"{base}/api/files/sales", params={"earliestDate": since}, headers=headers)
    rows = changed.json()["value"]["sales"]
    assert 0 < len(rows) <= 10
    assert (
        httpx.get(
            f"{base}/api/files/sales", params={"pageNumber": "x"}, headers=headers
        ).status_code
        == 400
    )


def test_session_expires_on_sandbox_clock_and_by_fault(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    assert httpx.get(f"{base}/api/users", headers=headers).status_code == 200
    httpx.post(
        f"{running.url}/_sandbox/faults", json={"spec": "skyslope:/api/*:expired_credentials:1"}
    )
    assert httpx.get(f"{base}/api/users", headers=headers).status_code == 401
    assert httpx.get(f"{base}/api/users", headers=headers).status_code == 200
    httpx.post(f"{running.url}/_sandbox/advance", json={"seconds": 7201, "fraction": 0})
    assert httpx.get(f"{base}/api/users", headers=headers).status_code == 401


def test_truth_names_files_shared_with_rezen(sky):
    running, _, _ = sky
    shared = httpx.get(
        f"{running.url}/_sandbox/truth/skyslope",
        params={"user_id": AGENT, "entity": "shared_with_rezen"},
    ).json()[str(AGENT)]["shared_with_rezen"]
    assert shared["count"] == sum(1 for f in shared["files"] if f["in_rezen"])
    assert 0 < shared["count"] < len(shared["files"])
    other = httpx.get(
        f"{running.url}/_sandbox/truth/skyslope",
        params={"user_id": 103, "entity": "shared_with_rezen"},
    ).json()["103"]["shared_with_rezen"]
    assert other["count"] == 0 and other["files"]
