"""Rate limiting is waited out, not failed (issue 15): dlt_pipelines.http.ApiClient over real HTTP.

A tiny local HTTP server answers each request from a script (status, headers), so the client's
retry decisions are exercised against real responses on a real socket.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentsync.errors import SettingError
from agentsync.settings import load_settings
from dlt_pipelines.http import ApiClient, ApiError


class _Scripted:
    """A local server answering from ``script`` (one (status, headers) per request, last repeats)."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.hits: list[tuple[int, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                i = len(outer.hits)
                status, headers = outer.script[min(i, len(outer.script) - 1)]
                outer.hits.append((status, time.monotonic()))
                body = b'{"ok": true}' if status == 200 else b'{"error": "scripted"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[type[_Scripted]]:
    servers: list[_Scripted] = []

    def make(script: list[tuple[int, dict[str, str]]]) -> _Scripted:
        servers.append(_Scripted(script))
        return servers[-1]

    yield make  # type: ignore[misc]
    for s in servers:
        s.close()


def test_429s_do_not_use_up_the_retry_count(scripted):
    """4x503 then 3x429 then 200, with max_retries=4: only the 503s count, so it succeeds."""
    srv = scripted(
        [(503, {})] * 4
        + [(429, {"Retry-After": "0"}), (429, {}), (429, {"Retry-After": "0.05"})]
        + [(200, {})]
    )
    with ApiClient(
        srv.url, max_retries=4, backoff_base=0.01, rate_limit_budget_seconds=30
    ) as client:
        body, resp = client.get_json("/things")
    assert body == {"ok": True} and resp.status_code == 200
    assert [s for s, _ in srv.hits] == [503] * 4 + [429] * 3 + [200]
    assert client.retries == 7


def test_more_503s_than_max_retries_still_fail(scripted):
    srv = scripted([(503, {})])
    c = ApiClient(srv.url, max_retries=2, backoff_base=0.01, rate_limit_budget_seconds=30)
    with c, pytest.raises(ApiError, match="server error, retries exhausted"):
        c.get_json("/things")
    assert len(srv.hits) == 3


def test_many_429s_beyond_max_retries_are_waited_out(scripted):
    """Ten 429s (more than max_retries=2) inside the budget: the request still succeeds."""
    srv = scripted([(429, {"Retry-After": "0"})] * 10 + [(200, {})])
    with ApiClient(srv.url, max_retries=2, backoff_base=0.01, rate_limit_budget_seconds=30) as c:
        body, _ = c.get_json("/things")
    assert body == {"ok": True}
    assert len(srv.hits) == 11


def test_retry_after_is_honoured(scripted):
    srv = scripted([(429, {"Retry-After": "0.3"}), (200, {})])
    with ApiClient(srv.url, backoff_base=0.01, rate_limit_budget_seconds=30) as c:
        c.get_json("/things")
    (_, first), (_, second) = srv.hits
    assert second - first >= 0.28


def test_retry_after_http_date_is_honoured(scripted):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=1.2), usegmt=True)
    srv = scripted([(429, {"Retry-After": when}), (200, {})])
    with ApiClient(srv.url, backoff_base=0.01, rate_limit_budget_seconds=30) as c:
        c.get_json("/things")
    (_, first), (_, second) = srv.hits
    assert second - first >= 0.15  # the date has a 1 s resolution; it was waited for, not 0.01


def test_endless_429_fails_when_the_budget_is_spent(scripted):
    srv = scripted([(429, {"Retry-After": "0"})])
    started = time.monotonic()
    c = ApiClient(srv.url, max_retries=1, backoff_base=0.02, rate_limit_budget_seconds=0.3)
    with c, pytest.raises(ApiError) as err:
        c.get_json("/things")
    elapsed = time.monotonic() - started
    msg = str(err.value)
    assert err.value.status == 429
    found = re.search(r"rate limited for (\d+\.\d) s \(budget (\w+)=0\.3\)", msg)
    assert found and found[2] == "AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS", msg
    assert 0.3 <= float(found[1]) < 5  # (rounded to 0.1 s)
    assert 0.29 <= elapsed < 5
    assert len(srv.hits) > 2  # more tries than max_retries: the budget, not the count, ended it


def test_a_long_retry_after_is_cut_to_the_budget(scripted):
    """Retry-After beyond the budget: the last try comes when the budget ends, then it fails."""
    srv = scripted([(429, {"Retry-After": "600"})])
    started = time.monotonic()
    c = ApiClient(srv.url, backoff_base=0.01, rate_limit_budget_seconds=0.4)
    with c, pytest.raises(ApiError, match=r"rate limited for \d+\.\d s \(budget .*=0\.4\)"):
        c.get_json("/things")
    assert time.monotonic() - started < 5
    assert len(srv.hits) == 2


def test_budget_defaults_to_the_setting(monkeypatch, scripted):
    monkeypatch.setenv("AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS", "0.2")
    srv = scripted([(429, {})])
    with ApiClient(srv.url, backoff_base=0.01) as c:
        assert c.rate_limit_budget_seconds == 0.2
        with pytest.raises(ApiError, match=r"AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS=0\.2"):
            c.get_json("/things")


def test_budget_setting_default_is_15_minutes(monkeypatch):
    monkeypatch.delenv("AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS", raising=False)
    assert load_settings().rate_limit_budget_seconds == 900


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_bad_budget_is_one_line_naming_the_setting(monkeypatch, value):
    monkeypatch.setenv("AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS", value)
    with pytest.raises(SettingError) as err:
        load_settings()
    msg = str(err.value)
    assert msg.startswith("AGENTSYNC_RATE_LIMIT_BUDGET_SECONDS ") and "\n" not in msg, msg
