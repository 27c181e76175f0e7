"""Benchmark: the FUB replica serving people pages at seed scale.

What it measures, all in one run on this machine:

- **pages/s** following ``_metadata.next`` through agent 101's people (``limit=100``, rate
  limiter off) over real HTTP to the sandbox on loopback, for ``--pages`` pages;
- **baseline pages/s**: the same number of requests, same client, same uvicorn/Starlette stack,
  to a route answering a pre-rendered bytes copy of one such page — the cost of transport alone
  (interleaved with the replica in batches, so load from other work hits both alike);
- **ratio** = replica / baseline (how close deriving records on demand gets to serving bytes);
- **memory**: process peak RSS before the sandbox exists, after building the seed-scale world,
  after the walk and at the end (the replica never materialises its 1.7M people);
- **time moving**: FUB ``advance`` of 1% at seed scale and ``truth`` (counts; ids of 571k
  people), informative seconds (no baseline).

Results go to ``bench/results.md`` under the ``## Sandbox`` heading (that section is replaced;
other sections are kept). Run: ``.venv/bin/python bench/bench_sandbox.py [--pages N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.core import free_port, start_in_thread  # noqa: E402

RESULTS = ROOT / "bench" / "results.md"
HEADING = "## Sandbox"
BATCH = 50  # pages per interleaved batch


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ReplicaWalker:
    """Follows ``next`` through agent 101's people, a batch of pages at a time."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.token: str | None = None
        self.pages = 0
        self.records = 0
        self.done = False

    def batch(self, pages: int) -> float:
        """Fetch up to ``pages`` pages; returns the seconds spent."""
        start = time.perf_counter()
        for _ in range(pages):
            params = {"limit": 100, "includeTrash": "true"}
            if self.token:
                params["next"] = self.token
            resp = self.client.get("/people", params=params)
            resp.raise_for_status()
            body = resp.json()
            self.records += len(body["people"])
            self.pages += 1
            self.token = body["_metadata"]["next"]
            if not self.token:
                self.done = True
                break
        return time.perf_counter() - start


def serve_baseline(page: bytes) -> tuple[uvicorn.Server, threading.Thread, str]:
    async def pre_rendered(request) -> Response:
        return Response(page, media_type="application/json")

    app = Starlette(routes=[Route("/people", pre_rendered)])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def walk_baseline(client: httpx.Client, pages: int) -> float:
    """The same number of requests to the pre-rendered page; returns the seconds spent."""
    start = time.perf_counter()
    for _ in range(pages):
        resp = client.get("/people", params={"limit": 100})
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
        new = "\n".join(lines[:start] + section.rstrip("\n").splitlines() + lines[end:])
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--scale", default="seed")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    rss_start = peak_rss_mb()
    t0 = time.perf_counter()
    running = start_in_thread(seed=42, scale=args.scale)
    build_s = time.perf_counter() - t0
    rss_world = peak_rss_mb()
    fub = running.sandbox.modules["fub"]
    fub.ratelimit.enabled = False  # pipeline-bound measurements: no pacing
    cred = fub.credentials(101)
    headers = {"X-System": cred["system"], "X-System-Key": cred["system_key"]}
    total_people = fub.truth(101, None)["101"]["people"]["count"]
    replica_s = baseline_s = 0.0
    try:
        with httpx.Client(
            base_url=f"{running.url}/fub/v1",
            auth=(cred["api_key"], ""),
            headers=headers,
            timeout=60,
        ) as client:
            sample = client.get("/people", params={"limit": 100, "includeTrash": "true"})
            sample.raise_for_status()
            server, thread, url = serve_baseline(sample.content)
            try:
                with httpx.Client(base_url=url, timeout=60) as base_client:
                    walker = ReplicaWalker(client)
                    walker.batch(20)  # warm-up both
                    walk_baseline(base_client, 20)
                    walker = ReplicaWalker(client)
                    # interleaved batches: both sides see the same machine load (shared box)
                    while walker.pages < args.pages and not walker.done:
                        before = walker.pages
                        replica_s += walker.batch(min(BATCH, args.pages - walker.pages))
                        baseline_s += walk_baseline(base_client, walker.pages - before)
                    pages, records = walker.pages, walker.records
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        rss_walk = peak_rss_mb()
        # time moving at seed scale (the FUB replica only): one day, 1% of people changed
        running.sandbox.world.advance(86_400)
        t0 = time.perf_counter()
        fub.advance(0.01, random.Random(42))
        advance_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fub.truth(None, None)
        truth_counts_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fub.truth(101, "people")
        truth_ids_s = time.perf_counter() - t0
        rss_end = peak_rss_mb()
    finally:
        running.stop()

    replica_pps = pages / replica_s
    baseline_pps = pages / baseline_s
    result = {
        "scale": args.scale,
        "agent_101_people": total_people,
        "pages": pages,
        "records": records,
        "replica_pages_per_s": round(replica_pps, 1),
        "baseline_pages_per_s": round(baseline_pps, 1),
        "ratio_replica_to_baseline": round(replica_pps / baseline_pps, 3),
        "world_build_s": round(build_s, 2),
        "peak_rss_mb_start": round(rss_start, 1),
        "peak_rss_mb_after_world": round(rss_world, 1),
        "peak_rss_mb_after_walk": round(rss_walk, 1),
        "fub_advance_1pct_s": round(advance_s, 2),
        "truth_counts_all_agents_s": round(truth_counts_s, 2),
        "truth_people_ids_agent_101_s": round(truth_ids_s, 2),
        "peak_rss_mb_end": round(rss_end, 1),
    }
    print(json.dumps(result, indent=2))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"""{HEADING}

`bench/bench_sandbox.py` ({when}; scale `{args.scale}`, seed 42; 2-core machine shared with
other work, so absolute numbers are noisy — the ratio is the measurement).

FUB people pages (`limit=100`, `includeTrash=true`) for agent 101
({total_people:,} people), following `_metadata.next`, rate limiter off, real HTTP on loopback.
Baseline: the same number of requests through the same client and uvicorn/Starlette stack to a
route returning a pre-rendered bytes copy of one such page (transport + JSON parse only),
interleaved with the replica in batches of {BATCH} pages so both see the same machine load.

| measure | value |
| --- | --- |
| pages served (records) | {pages:,} ({records:,}) |
| replica pages/s | {replica_pps:.1f} |
| baseline pages/s (pre-rendered bytes) | {baseline_pps:.1f} |
| **ratio replica / baseline** | **{replica_pps / baseline_pps:.3f}** |
| world + server start-up | {build_s:.2f} s |
| peak RSS before the sandbox | {rss_start:.0f} MB |
| peak RSS after building the {args.scale} world | {rss_world:.0f} MB |
| peak RSS after the walk | {rss_walk:.0f} MB |
| FUB `advance` (1 day, 1% of people changed, all agents) | {advance_s:.2f} s |
| `truth` counts, all agents and entities | {truth_counts_s:.2f} s |
| `truth` people with ids, agent 101 | {truth_ids_s:.2f} s |
| peak RSS at the end | {rss_end:.0f} MB |
"""
    if not args.no_write:
        write_results(section)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
