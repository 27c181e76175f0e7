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
from dlt_pipelines.http import ApiClient, ApiError, RateGate


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


# --------------------------------------------------------------------------------------------
# pacing one account's requests (issue 17): a sliding window, shared through the database
# --------------------------------------------------------------------------------------------

PACED = {"X-RateLimit-Limit": "7", "X-RateLimit-Window": "1", "X-RateLimit-Remaining": "100"}


def _walk(gates: list[RateGate], url: str, per_gate: int) -> None:
    """One call per gate, one after another (each gate's first call, which teaches it the pace,
    goes unpaced), then two threads per gate at once."""

    def one(gate: RateGate, calls: int = per_gate) -> None:
        with ApiClient(url, gate=gate, backoff_base=0.01) as client:
            for _ in range(calls):
                client.get_json("/things")

    for gate in gates:
        one(gate, 1)

    threads = [threading.Thread(target=one, args=(g,)) for g in gates for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + window) for i, t in enumerate(times))


def test_two_gates_on_one_account_share_one_window(agentsync_env, scripted) -> None:
    """Two gates with one account key (as two processes have) draw from one window in the
    database: no second of the server's clock holds more than limit - reserve = 2 requests."""
    from agentsync import db

    db.ensure_ready()
    srv = scripted([(200, PACED)])
    account = f"test:{time.monotonic_ns()}"
    _walk([RateGate(account=account), RateGate(account=account)], srv.url, 3)
    times = [t for _, t in srv.hits]
    assert len(times) == 2 + 12
    assert _most_in_any_window(times, 1.0) <= 2


def test_control_two_gates_pacing_alone_double_the_rate(
    agentsync_env, scripted, monkeypatch
) -> None:
    """The control: each gate keeps its own window, so together they exceed the account's."""
    monkeypatch.setenv("AGENTSYNC_SHARED_REQUEST_PACING", "false")
    srv = scripted([(200, PACED)])
    account = f"test:{time.monotonic_ns()}"
    _walk([RateGate(account=account), RateGate(account=account)], srv.url, 3)
    assert _most_in_any_window([t for _, t in srv.hits], 1.0) > 2


def test_pacing_without_the_database_falls_back_to_the_process(
    monkeypatch, scripted, caplog
) -> None:
    """The database out of reach: one warning, requests still served, paced by the process."""
    from agentsync import pacing

    monkeypatch.setenv("AGENTSYNC_DATABASE_URL", "postgresql://u:p@127.0.0.1:9/none")
    monkeypatch.setattr(pacing, "_warned", threading.Event())
    srv = scripted([(200, PACED)])
    with caplog.at_level("WARNING", logger="agentsync.pacing"):
        _walk([RateGate(account="test:no-database")], srv.url, 3)
    assert len(srv.hits) == 1 + 6
    assert _most_in_any_window([t for _, t in srv.hits], 1.0) <= 2
    warnings = [r for r in caplog.records if "shared request pacing unavailable" in r.message]
    assert len(warnings) == 1


def test_a_window_spent_down_to_the_reserve_does_not_pause_a_paced_gate(scripted) -> None:
    """Paced by slots, the vendor's window holds at most limit - reserve of the account's
    requests, so ``Remaining`` at the reserve is the pace working: no pause (pausing there cost
    a third of the budget in bench_pacing). Fewer remaining means requests the pace did not
    count: then callers pause (the control)."""
    at_reserve = {"X-RateLimit-Limit": "100", "X-RateLimit-Window": "10"}
    srv = scripted([(200, {**at_reserve, "X-RateLimit-Remaining": "5"})])
    gate = RateGate(account=None)
    with ApiClient(srv.url, gate=gate, backoff_base=0.01) as client:
        for _ in range(4):
            client.get_json("/things")
    assert gate.pace == (95, 10.0)
    assert gate.throttled_seconds == 0.0

    srv = scripted([(200, {**at_reserve, "X-RateLimit-Remaining": "4"})])
    gate = RateGate(account=None)
    with ApiClient(srv.url, gate=gate, backoff_base=0.01) as client:
        client.get_json("/things")
        client.get_json("/things")
    assert gate.throttled_seconds > 0.0  # 10 s / 5 spread over what is left
