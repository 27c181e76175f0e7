"""FUB text messages: requests and seconds of an onboarding's texts, counters used vs not.

One command::

    .venv/bin/python -m bench.bench_texts                  # agent 101 with ~5,000 people
    .venv/bin/python -m bench.bench_texts --people 20000

In a fresh data dir with its own embedded PostgreSQL and a sandbox in its own process (rate
limit off), agent 101's people are loaded once; then ``fub.text_messages`` is onboarded twice
into two fresh dlt pipelines of the same agent, interleaved:

- **per person** (the path before, and the fallback): the sandbox serves people without
  ``textsSent``/``textsReceived``/``lastText``, so every person is asked;
- **by counters**: the counters are served, so only people with texts are asked.

Requests are what the sandbox counted (``/_sandbox/fub/requests``), not what the client thinks
it sent. Both runs must land the same text ids as the sandbox's truth. In the sandbox about a
third of people have texts (``sandbox/fub_data.py``: one text per three people, spread evenly).
Results are appended under a "FUB text messages" heading in ``bench/results.md``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.md"


def _texts_once(root: str, counters: bool, purpose: str) -> dict[str, Any]:
    import httpx
    from sqlalchemy import text

    from agentsync import db
    from dlt_pipelines.fub import FubRun

    httpx.post(f"{root}/_sandbox/fub/text_fields", json={"enabled": counters}).raise_for_status()
    with db.begin() as conn:  # each variant lands people and texts into empty tables
        for table in ("people", "text_messages"):
            if conn.execute(text(f"select to_regclass('raw_fub.{table}')")).scalar():
                conn.execute(text(f"delete from raw_fub.{table} where user_id = 101"))
    with FubRun(101, "onboarding", purpose=purpose) as run:
        run.load_stream("people")  # served with or without the counters
    httpx.delete(f"{root}/_sandbox/fub/requests").raise_for_status()
    t = time.perf_counter()
    with FubRun(101, "onboarding", purpose=purpose) as run:
        result = run.load_stream("text_messages")  # a new pipeline: a first read
    seconds = time.perf_counter() - t
    served = httpx.delete(f"{root}/_sandbox/fub/requests").json().get("101", {})
    with db.begin() as conn:
        landed = set(
            conn.execute(
                text("select distinct id from raw_fub.text_messages where user_id = 101")
            ).scalars()
        )
    return {
        "seconds": seconds,
        "requests": served.get("textMessages", 0),
        "rows": result.rows,
        "ids": landed,
    }


def run(people: int, seed: int, reps: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="agentsync-bench-texts-"))
    for key in [k for k in os.environ if k.startswith("AGENTSYNC_")]:
        del os.environ[key]
    os.environ["AGENTSYNC_DATA_DIR"] = str(data_dir)

    import httpx

    from agentsync import agents, db
    from bench.bench_fub import _scale_for
    from bench.bench_pipeline import _progress, _start_sandbox
    from dlt_pipelines.fub import FubRun

    db.ensure_ready()
    sandbox_proc, info = _start_sandbox(str(_scale_for(people, seed)), seed)
    os.environ.update(info["env"])
    root = info["url"]
    try:
        demo = next(a for a in info["agents"] if a["user_id"] == 101)
        agents.add_agent(101, demo["name"], {"fub": demo["credentials"]["fub"]})
        httpx.post(f"{root}/_sandbox/fub/ratelimit", json={"enabled": False}).raise_for_status()
        truth = httpx.get(
            f"{root}/_sandbox/truth/fub", params={"user_id": 101}, timeout=600
        ).json()["101"]
        texts_truth = set(
            httpx.get(
                f"{root}/_sandbox/truth/fub",
                params={"user_id": 101, "entity": "textMessages"},
                timeout=600,
            ).json()["101"]["textMessages"]["ids"]
        )
        with FubRun(101, "onboarding") as run_:
            n_people = run_.load_stream("people").rows
        _progress(f"agent 101: {n_people:,} people, {len(texts_truth):,} texts")
        results: dict[str, list[dict[str, Any]]] = {"per person": [], "by counters": []}
        for rep in range(reps):
            for name, counters in (("per person", False), ("by counters", True)):
                r = _texts_once(root, counters, f"bench{rep}{int(counters)}")
                _progress(f"{name}: {r['requests']:,} requests, {r['seconds']:.1f} s")
                results[name].append(r)
        return {
            "people": n_people,
            "people_total": truth["people"]["count"],
            "texts": len(texts_truth),
            "results": results,
            "complete": {
                name: all(r["ids"] == texts_truth for r in rs) for name, rs in results.items()
            },
        }
    finally:
        sandbox_proc.terminate()
        sandbox_proc.wait(timeout=30)
        db.stop_embedded()


def report(r: dict[str, Any], command: str) -> str:
    def median(values: list[float]) -> float:
        s = sorted(values)
        return s[len(s) // 2]

    rows = []
    for name, rs in r["results"].items():
        rows.append(
            (
                name,
                rs[0]["requests"],
                median([x["seconds"] for x in rs]),
                rs[0]["rows"],
                "yes" if r["complete"][name] else "**no**",
            )
        )
    before, after = rows
    lines = [
        "",
        f"## FUB text messages (`{command}`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; agent 101: {r['people']:,} people, "
        f"{r['texts']:,} texts; sandbox rate limit off; median of {len(r['results']['per person'])}"
        " interleaved runs per variant.",
        "",
        "| variant | textMessages requests | seconds | texts landed | every text of the truth |",
        "| --- | ---: | ---: | ---: | --- |",
        *(f"| {n} | {q:,} | {s:.1f} | {t:,} | {c} |" for n, q, s, t, c in rows),
        "",
        f"- requests by counters / per person: **{after[1] / max(before[1], 1):.3f}**; "
        f"seconds: **{after[2] / max(before[2], 1e-9):.3f}**.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5_000, help="people of agent 101")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    result = run(args.people, args.seed, args.reps)
    command = "python -m bench.bench_texts " + shlex.join(argv or sys.argv[1:])
    out = report(result, command.strip())
    print(out)
    if not args.no_write:
        with RESULTS.open("a") as fh:
            fh.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
