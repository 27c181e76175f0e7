"""Benchmark: the four replicas serving pages, per API, and the server's peak memory.

What it measures, all in one run on this machine:

- **pages/s per API** over real HTTP on loopback, agent 101, walking the API's own paging to
  the end and round again until ``--pages`` pages are served:
  FUB people (``limit=100``, ``_metadata.next``; rate limiter off), reZEN transactions (arrakis
  lifecycle groups OPEN, CLOSED, TERMINATED; ``pageSize=100``), SkySlope sales and listings
  (fixed 10 rows, ``pageNumber`` with ``rel: next``) and Qualia orders (GraphQL
  ``orders(input: {limit: 100, offset})`` until an empty list);
- **baseline pages/s per API**: the same number of requests, same client, same uvicorn/Starlette
  stack, to a route answering a pre-rendered bytes copy of the API's first page — transport and
  JSON parse only (interleaved with the replica in batches, so load from other work hits both);
- **ratio** = replica / baseline (how close deriving records on demand gets to serving bytes);
- **server memory**: the sandbox runs as its own process (``agentsync sandbox serve``), and its
  peak RSS (``VmHWM``) is read after start-up, after each API's walk and at the end;
- **time moving**: ``POST /_sandbox/advance`` (1 day, 1% changed, all four APIs) and ground
  truth (counts for all agents per API; FUB people ids of agent 101), informative seconds.

Results go to ``bench/results.md`` under the ``## Sandbox`` heading (that section is replaced;
other sections are kept). Run: ``.venv/bin/python bench/bench_sandbox.py [--pages N]
[--scale NAME]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.core import free_port  # noqa: E402
from sandbox.skyslope import hmac_signature  # noqa: E402

RESULTS = ROOT / "bench" / "results.md"
HEADING = "## Sandbox"
BATCH = 25  # pages per interleaved batch
AGENT = 101
QUALIA_QUERY = (
    "query GetOrders($limit: Int, $offset: Int) { orders(input: {limit: $limit, offset: $offset})"
    " { orders { _id order_number status open_date close_date purchase_price } } }"
)


class ServerProcess:
    """``agentsync sandbox serve --json`` as a child process (its memory is what we measure)."""

    def __init__(self, scale: str, seed: int = 42) -> None:
        cmd = [sys.executable, "-m", "agentsync.cli", "sandbox", "serve", "--port", "0"]
        cmd += ["--seed", str(seed), "--scale", scale, "--json"]
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"sandbox serve exited with {self.proc.wait()} before serving")
            lines.append(line)
            if line.rstrip() == "}":
                break
        self.startup_s = time.perf_counter() - started
        info = json.loads("".join(lines))
        self.url: str = info["url"]
        self.env: dict[str, str] = info["env"]
        self.creds = {
            a["user_id"]: a["credentials"] for a in info["agents"] if a["user_id"] == AGENT
        }[AGENT]

    def peak_rss_mb(self) -> float:
        """The server process's peak resident set size so far (``VmHWM``)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("VmHWM not in /proc status")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Walk:
    """One API's paging: ``fetch(cursor)`` → (records, raw body, next cursor or None)."""

    name: str
    client: httpx.Client
    fetch: Callable[[Any], tuple[int, bytes, Any]]
    first: Any
    method: str = "GET"  # the baseline's request shape
    body: dict[str, Any] | None = None
    cursor: Any = None
    pages: int = 0
    records: int = 0
    rounds: int = 0

    def batch(self, pages: int) -> float:
        """Fetch ``pages`` pages (starting over at the end); returns the seconds spent."""
        start = time.perf_counter()
        for _ in range(pages):
            cursor = self.first if self.cursor is None else self.cursor
            n, _, self.cursor = self.fetch(cursor)
            self.records += n
            self.pages += 1
            if self.cursor is None:
                self.rounds += 1
        return time.perf_counter() - start


def fub_walk(server: ServerProcess) -> Walk:
    cred = server.creds["fub"]
    client = httpx.Client(
        base_url=server.env["AGENTSYNC_FUB_BASE_URL"],
        auth=(cred["api_key"], ""),
        headers={"X-System": cred["system"], "X-System-Key": cred["system_key"]},
        timeout=120,
    )
    httpx.post(f"{server.url}/_sandbox/fub/ratelimit", json={"enabled": False}).raise_for_status()

    def fetch(token: str) -> tuple[int, bytes, Any]:
        params = {"limit": 100, "includeTrash": "true"}
        if token:
            params["next"] = token
        resp = client.get("/people", params=params)
        resp.raise_for_status()
        body = resp.json()
        return len(body["people"]), resp.content, body["_metadata"]["next"] or None

    return Walk("FUB people", client, fetch, first="")


def rezen_walk(server: ServerProcess) -> Walk:
    headers = {"X-API-KEY": server.creds["rezen"]["api_key"]}
    client = httpx.Client(headers=headers, timeout=120)
    me = client.get(f"{server.env['AGENTSYNC_REZEN_YENTA_URL']}/agents/me").json()["id"]
    base = f"{server.env['AGENTSYNC_REZEN_ARRAKIS_URL']}/transactions/participant/{me}/transactions"
    groups = ["OPEN", "CLOSED", "TERMINATED"]

    def fetch(cursor: tuple[int, int]) -> tuple[int, bytes, Any]:
        group, number = cursor
        resp = client.get(f"{base}/{groups[group]}", params={"pageNumber": number, "pageSize": 100})
        resp.raise_for_status()
        body = resp.json()
        if body["hasNext"]:
            return len(body["transactions"]), resp.content, (group, number + 1)
        nxt = (group + 1, 0) if group + 1 < len(groups) else None
        return len(body["transactions"]), resp.content, nxt

    return Walk("reZEN transactions", client, fetch, first=(0, 0))


def skyslope_walk(server: ServerProcess, kind: str) -> Walk:
    cred = server.creds["skyslope"]
    base = server.env["AGENTSYNC_SKYSLOPE_BASE_URL"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = hmac_signature(cred["access_secret"], cred["client_id"], cred["client_secret"], stamp)
    login = httpx.post(
        f"{base}/auth/login",
        json={"ClientId": cred["client_id"], "ClientSecret": cred["client_secret"]},
        headers={"Authorization": f"SS {cred['access_key']}:{sig}", "Timestamp": stamp},
    )
    login.raise_for_status()
    client = httpx.Client(base_url=base, headers={"Session": login.json()["Session"]}, timeout=120)

    def fetch(page: int) -> tuple[int, bytes, Any]:
        resp = client.get(f"/api/files/{kind}", params={"pageNumber": page})
        resp.raise_for_status()
        body = resp.json()
        more = any(link["rel"] == "next" for link in body["links"])
        return len(body["value"][kind]), resp.content, page + 1 if more else None

    return Walk(f"SkySlope {kind}", client, fetch, first=1)


def qualia_walk(server: ServerProcess) -> Walk:
    cred = server.creds["qualia"]
    client = httpx.Client(auth=(cred["username"], cred["password"]), timeout=120)
    url = server.env["AGENTSYNC_QUALIA_BASE_URL"]

    def fetch(offset: int) -> tuple[int, bytes, Any]:
        body = {"query": QUALIA_QUERY, "variables": {"limit": 100, "offset": offset}}
        resp = client.post(url, json=body)
        resp.raise_for_status()
        orders = resp.json()["data"]["orders"]["orders"]
        # offset paging ends on an empty list (qualia.md §2): that request is a page too
        return len(orders), resp.content, offset + len(orders) if orders else None

    same = {"query": QUALIA_QUERY, "variables": {"limit": 100, "offset": 0}}
    return Walk("Qualia orders", client, fetch, first=0, method="POST", body=same)


def serve_baseline(pages: dict[str, bytes]) -> tuple[uvicorn.Server, threading.Thread, str]:
    """A bare Starlette app answering ``/{api}`` with the pre-rendered first page of that API."""

    async def pre_rendered(request: Request) -> Response:
        return Response(pages[request.path_params["api"]], media_type="application/json")

    app = Starlette(routes=[Route("/{api}", pre_rendered, methods=["GET", "POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def walk_baseline(client: httpx.Client, walk: Walk, key: str, pages: int) -> float:
    """``pages`` requests to the pre-rendered page of ``key``; returns the seconds spent."""
    start = time.perf_counter()
    for _ in range(pages):
        resp = client.request(walk.method, f"/{key}", json=walk.body)
        resp.raise_for_status()
        resp.json()
    return time.perf_counter() - start


def write_results(section: str) -> None:
    """Replace (or append) the ``## Sandbox`` section of ``bench/results.md``."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == HEADING), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines)
        )
        new = "\n".join(lines[:start] + section.rstrip("\n").splitlines() + [""] + lines[end:])
    RESULTS.write_text(new.rstrip("\n") + "\n")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500, help="pages per API")
    parser.add_argument("--scale", default="seed")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    started = time.perf_counter()
    server = ServerProcess(args.scale)
    rows: list[dict[str, Any]] = []
    try:
        rss_start = server.peak_rss_mb()
        walks = [
            fub_walk(server),
            rezen_walk(server),
            skyslope_walk(server, "sales"),
            skyslope_walk(server, "listings"),
            qualia_walk(server),
        ]
        first_pages = {}
        for i, walk in enumerate(walks):
            first_pages[str(i)] = walk.fetch(walk.first)[1]
        base_server, thread, url = serve_baseline(first_pages)
        try:
            with httpx.Client(base_url=url, timeout=60) as base_client:
                for i, walk in enumerate(walks):
                    key = str(i)
                    walk.batch(10)  # warm-up both (the replica builds the agent's catalogue)
                    walk_baseline(base_client, walk, key, 10)
                    walk.pages = walk.records = walk.rounds = 0
                    walk.cursor = None
                    replica_s = baseline_s = 0.0
                    while walk.pages < args.pages:
                        n = min(BATCH, args.pages - walk.pages)
                        replica_s += walk.batch(n)
                        baseline_s += walk_baseline(base_client, walk, key, n)
                    rows.append(
                        {
                            "api": walk.name,
                            "pages": walk.pages,
                            "records": walk.records,
                            "full_walks": walk.rounds,
                            "replica_pps": walk.pages / replica_s,
                            "baseline_pps": walk.pages / baseline_s,
                            "peak_rss_mb": server.peak_rss_mb(),
                        }
                    )
                    walk.client.close()
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            base_server.should_exit = True
            thread.join(timeout=10)
        rss_walks = server.peak_rss_mb()
        control = httpx.Client(base_url=f"{server.url}/_sandbox", timeout=600)
        advance_s = timed(
            lambda: control.post(
                "/advance", json={"seconds": 86_400, "fraction": 0.01}
            ).raise_for_status()
        )
        truth_s = {
            api: timed(lambda api=api: control.get(f"/truth/{api}").raise_for_status())
            for api in ("fub", "rezen", "skyslope", "qualia")
        }
        truth_ids_s = timed(
            lambda: control.get(
                "/truth/fub", params={"user_id": AGENT, "entity": "people"}
            ).raise_for_status()
        )
        rss_end = server.peak_rss_mb()
    finally:
        server.stop()
    total_s = time.perf_counter() - started

    result = {
        "scale": args.scale,
        "apis": rows,
        "server_startup_s": round(server.startup_s, 2),
        "server_peak_rss_mb_after_startup": round(rss_start, 1),
        "server_peak_rss_mb_after_walks": round(rss_walks, 1),
        "advance_1pct_all_apis_s": round(advance_s, 2),
        "truth_counts_s": {k: round(v, 2) for k, v in truth_s.items()},
        "truth_fub_people_ids_agent_101_s": round(truth_ids_s, 2),
        "server_peak_rss_mb_end": round(rss_end, 1),
        "bench_wall_s": round(total_s, 1),
    }
    print(json.dumps(result, indent=2))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join(
        f"| {r['api']} | {r['pages']:,} ({r['records']:,}; {r['full_walks']} full walks) "
        f"| {r['replica_pps']:.1f} | {r['baseline_pps']:.1f} "
        f"| **{r['replica_pps'] / r['baseline_pps']:.3f}** | {r['peak_rss_mb']:.0f} MB |"
        for r in rows
    )
    section = f"""{HEADING}

`bench/bench_sandbox.py` ({when}; scale `{args.scale}`, seed 42; {total_s / 60:.1f} min wall;
2-core machine shared with other work, so absolute numbers are noisy — the ratio is the
measurement).

Agent 101, real HTTP on loopback, the sandbox as its own process (`agentsync sandbox serve`).
Each API is paged its own way (FUB `_metadata.next` with `limit=100`, rate limiter off; reZEN
arrakis transactions per lifecycle group with `pageSize=100`; SkySlope fixed 10-row pages with
`rel: next`; Qualia `orders(input: {{limit: 100, offset}})` until an empty list), starting over
at the end until {args.pages:,} pages are served. Baseline: the same number of requests through
the same client and uvicorn/Starlette stack to a route returning a pre-rendered bytes copy of
that API's first page (transport + JSON parse only), interleaved with the replica in batches of
{BATCH} pages so both see the same machine load. Peak RSS is the server process's `VmHWM`
after that API's walk (cumulative).

| API | pages (records) | replica pages/s | baseline pages/s | ratio | server peak RSS |
| --- | --- | --- | --- | --- | --- |
{table}

| measure | value |
| --- | --- |
| server start-up (process, world, port) | {server.startup_s:.2f} s |
| server peak RSS after start-up | {rss_start:.0f} MB |
| server peak RSS after all walks | {rss_walks:.0f} MB |
| `POST /_sandbox/advance` (1 day, 1% changed, all four APIs) | {advance_s:.2f} s |
| `truth` counts, all agents: FUB / reZEN / SkySlope / Qualia | \
{" / ".join(f"{truth_s[a]:.2f}" for a in ("fub", "rezen", "skyslope", "qualia"))} s |
| `truth` FUB people with ids, agent 101 | {truth_ids_s:.2f} s |
| server peak RSS at the end | {rss_end:.0f} MB |
"""
    if not args.no_write:
        write_results(section)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
