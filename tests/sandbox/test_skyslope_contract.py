"""Contract tests for the SkySlope replica over plain HTTP (``docs/vendors/skyslope.md``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.skyslope import LOCAL_TZ, NULL_DATE, hmac_signature

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


# -- served records against ground truth (ids and counts, every page) ------------------------------

# USPS abbreviations of the suffixes SkySlope spells out (reZEN keeps the abbreviation).
USPS = {
    "Street": "St",
    "Court": "Ct",
    "Drive": "Dr",
    "Avenue": "Ave",
    "Road": "Rd",
    "Lane": "Ln",
    "Boulevard": "Blvd",
}


def _truth(running, entity: str, user_id: int = AGENT) -> dict:
    resp = httpx.get(
        f"{running.url}/_sandbox/truth/skyslope",
        params={"user_id": user_id, "entity": entity},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()[str(user_id)][entity]


def _all_summaries(base: str, headers: dict[str, str], kind: str) -> list[dict]:
    """Every summary row of ``/api/files/{kind}``, following ``rel: next`` to the end."""
    rows, page = [], 1
    while True:
        resp = httpx.get(f"{base}/api/files/{kind}", params={"pageNumber": page}, headers=headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows.extend(body["value"][kind])
        if not any(link["rel"] == "next" for link in body["links"]):
            return rows
        page += 1


def test_listings_over_http_equal_truth_and_details_agree(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    truth = _truth(running, "listings")
    rows = _all_summaries(base, headers, "listings")
    ids = [r["listingGuid"] for r in rows]
    # only deals shared with reZEN are SkySlope listings in the tiny world: one page or two
    assert truth["count"] > 0
    assert len(ids) == len(set(ids)) == truth["count"]
    assert sorted(ids) == sorted(truth["ids"])
    assert {r["status"] for r in rows} == set(truth["by_status"])
    for row in rows:
        detail = httpx.get(f"{base}/api/files/listings/{row['listingGuid']}", headers=headers)
        assert detail.status_code == 200
        listing = detail.json()["value"]["listing"]
        assert listing["listingGuid"] == row["listingGuid"]
        assert listing["objectType"] == "listing"
        assert listing["status"] == row["status"]
        assert listing["modifiedOn"] == row["modifiedOn"]
    # a sale's guid is not a listing (B.4: 422 "Unable to find" across folders)
    sale = _truth(running, "sales")["ids"][0]
    assert httpx.get(f"{base}/api/files/listings/{sale}", headers=headers).status_code == 422


def test_users_over_http_equal_truth(sky):
    running, base, cred = sky
    for user_id in (AGENT, 103):  # every SkySlope agent of the tiny world sees its own account
        login = running.sandbox.modules["skyslope"].credentials(user_id)
        body = httpx.get(f"{base}/api/users", headers=_session(base, login)).json()
        users = body["value"]["users"]
        truth = _truth(running, "users", user_id)
        assert [u["userGuid"] for u in users] == truth["ids"]
        assert len(users) == truth["count"] > 0
        assert all(u["email"] for u in users)
    mine = {u["userGuid"] for u in httpx.get(f"{base}/api/users", headers=_session(base, cred))
            .json()["value"]["users"]}  # fmt: skip
    assert mine.isdisjoint(_truth(running, "users", 103)["ids"])


def _street_key(number: str, street: str) -> str:
    """``number name suffix`` without control characters, suffix USPS-abbreviated."""
    words = "".join(c for c in f"{number} {street}" if ord(c) >= 32).split()
    return " ".join([*words[:-1], USPS.get(words[-1], words[-1])])


def _naive_day(value: str) -> str | None:
    return None if value == NULL_DATE else value[:10]


def test_shared_deals_read_the_same_in_rezen_and_skyslope_over_http(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    files = _truth(running, "shared_with_rezen")["files"]
    rezen_ids = set(
        httpx.get(
            f"{running.url}/_sandbox/truth/rezen",
            params={"user_id": AGENT, "entity": "transactions"},
        ).json()[str(AGENT)]["transactions"]["ids"]
    )
    assert all((f["rezen_id"] is not None) == f["in_rezen"] for f in files)
    shared = [f for f in files if f["in_rezen"] and f["kind"] == "sale"]
    assert shared and {f["rezen_id"] for f in shared} <= rezen_ids
    urls = running.sandbox.base_urls()
    rezen_key = {"X-API-KEY": running.sandbox.modules["rezen"].credentials(AGENT)["api_key"]}
    closed = 0
    for f in shared:
        sale = httpx.get(f"{base}/api/files/sales/{f['guid']}", headers=headers).json()
        sale = sale["value"]["sale"]
        tx = httpx.get(
            f"{urls['rezen_arrakis_url']}/transactions/{f['rezen_id']}", headers=rezen_key
        ).json()
        prop, addr = sale["property"], tx["address"]
        assert _street_key(prop["streetNumber"], prop["streetAddress"]) == addr["street"], f
        assert prop["city"].casefold() == addr["city"].casefold()
        assert prop["zip"] == addr["zip"]
        assert (prop["unit"] or None) == ((addr["street2"] or "").removeprefix("Unit ") or None)
        assert sale["salePrice"] == tx["price"]["amount"]
        # close date: SkySlope's actual (closed) / escrow (open) date against reZEN's
        # closedAt (closed) / closingDateEstimated (open); both null once terminated
        if "closedAt" in tx:
            closed += 1
            rezen_close = datetime.fromtimestamp(tx["closedAt"] / 1000, UTC).date().isoformat()
            assert _naive_day(sale["actualClosingDate"]) == rezen_close, f
        else:
            assert _naive_day(sale["actualClosingDate"]) is None
            assert _naive_day(sale["escrowClosingDate"]) == tx.get("closingDateEstimated"), f
    assert closed > 0


def _served(running, base: str, user_id: int) -> dict[str, dict[str, dict]]:
    """Per kind, every summary row the agent's session is served, by guid."""
    cred = running.sandbox.modules["skyslope"].credentials(user_id)
    headers = _session(base, cred)
    return {
        kind: {r[f"{kind[:-1]}Guid"]: r for r in _all_summaries(base, headers, kind)}
        for kind in ("sales", "listings")
    }


def test_advance_creates_modifies_and_cancels_files_as_truth_says(sky):
    running, base, _ = sky
    agents = [a.user_id for a in running.sandbox.world.agents_with("skyslope")]
    before = {uid: _served(running, base, uid) for uid in agents}
    totals = {"files_canceled": 0, "sales_created": 0, "listings_created": 0}
    for _ in range(3):  # the changes are random: move on until at least one file is canceled
        resp = httpx.post(
            f"{running.url}/_sandbox/advance", json={"seconds": 3600, "fraction": 1.0}
        )
        changes = resp.json()["changes"]["skyslope"]
        for key in totals:
            totals[key] += changes[key]
        if totals["files_canceled"]:
            break
    assert totals["files_canceled"] > 0 and totals["sales_created"] > 0
    today = datetime.fromisoformat(resp.json()["now"]).astimezone(LOCAL_TZ).date().isoformat()
    newly_canceled = {"sales": 0, "listings": 0}
    created = {"sales": 0, "listings": 0}
    for uid in agents:
        after = _served(running, base, uid)
        cred = running.sandbox.modules["skyslope"].credentials(uid)
        headers = _session(base, cred)
        for kind in ("sales", "listings"):
            truth = _truth(running, kind, uid)
            rows = after[kind]
            old = before[uid][kind]
            # HTTP (every page) == truth, and nothing disappears: removal is a status
            assert sorted(rows) == sorted(truth["ids"]) and len(rows) == truth["count"]
            assert truth["deleted_ids"] == []
            assert set(old) <= set(rows)
            statuses = [r["status"] for r in rows.values()]
            assert {s: statuses.count(s) for s in set(statuses)} == truth["by_status"]
            canceled = {g for g, r in rows.items() if r["status"] == "Canceled"}
            assert canceled == set(truth["canceled_ids"])
            fresh = canceled - {g for g, r in old.items() if r["status"] == "Canceled"}
            # canceled files were open before (new files start open)
            assert all(old[g]["status"] in ("Pending", "Active") for g in fresh if g in old)
            newly_canceled[kind] += len(fresh)
            created[kind] += len(set(rows) - set(old))
            for g in set(rows) - set(old) - fresh:  # new files are open unless canceled since
                assert rows[g]["status"] in ("Pending", "Active")
            if kind == "sales":
                for g in fresh:
                    sale = httpx.get(f"{base}/api/files/sales/{g}", headers=headers).json()
                    sale = sale["value"]["sale"]
                    assert sale["status"] == "Canceled" and sale["revision"] > 0
                    assert sale["deadDate"][:10] == today
                    assert sale["actualClosingDate"] == NULL_DATE
    assert sum(newly_canceled.values()) == totals["files_canceled"]
    assert created == {
        "sales": totals["sales_created"],
        "listings": totals["listings_created"],
    }


def _sales_page(base: str, headers: dict[str, str]) -> list[dict]:
    resp = httpx.get(f"{base}/api/files/sales", params={"pageNumber": 1}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]["sales"]


def test_record_faults_on_list_pages(sky):
    running, base, cred = sky
    headers = _session(base, cred)
    clean = _sales_page(base, headers)
    assert len(clean) == 10

    def armed(kind: str) -> list[dict]:
        spec = f"skyslope:/api/files/sales:{kind}:1"
        assert httpx.post(f"{running.url}/_sandbox/faults", json={"spec": spec}).status_code == 200
        return _sales_page(base, headers)

    missing = armed("malformed")
    assert "saleGuid" not in missing[0] and missing[1:] == clean[1:]
    typed = armed("malformed_types")
    assert typed[:-1] == clean[:-1] and typed[-1]["saleGuid"] == clean[-1]["saleGuid"]
    for key, value in clean[-1].items():
        if key != "saleGuid":
            assert type(typed[-1][key]) is not type(value), key
    added = armed("drift_added")
    assert all(set(a) - set(c) == {"teamName"} for a, c in zip(added, clean, strict=True))
    renamed = armed("drift_renamed")
    assert all(
        "status" not in r and r["fileStatus"] == c["status"]
        for r, c in zip(renamed, clean, strict=True)
    )
    lost = armed("lose_page")
    assert lost == clean[:1]
    assert _sales_page(base, headers) == clean  # every rule was used up


def test_unknown_paths_and_methods_answer_in_skyslope_error_shape(sky):
    _, base, cred = sky
    headers = _session(base, cred)
    unknown = httpx.get(f"{base}/api/no-such-thing", headers=headers)
    assert unknown.status_code == 404 and set(unknown.json()) == {"message"}
    for method, path in (
        ("POST", "/api/users"),
        ("DELETE", "/api/files/sales"),
        ("GET", "/auth/login"),
    ):
        resp = httpx.request(method, f"{base}{path}", headers=headers)
        assert resp.status_code == 405 and set(resp.json()) == {"message"}, (method, path)
