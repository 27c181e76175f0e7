"""One process's share of a concurrent walk of one FUB account (tests/fub/test_shared_pacing.py).

``python -m tests.fub.pacing_probe <user_id> <threads> <requests per thread> <go file>``: builds a
real :class:`FubClient` for the agent (its stored credential, the settings in the environment),
waits until ``<go file>`` exists (so every process starts sending together), then GETs one-person
pages of ``/people`` from ``threads`` threads through the account's gate. Prints one JSON line:
the responses it got and the 429s its gate met.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dlt_pipelines.fub.auth import load_auth
from dlt_pipelines.fub.client import FubClient


def main(user_id: int, threads: int, per_thread: int, go: Path) -> dict[str, object]:
    with FubClient(load_auth(user_id)) as client:
        gate = client._client("global").gate
        assert gate is not None
        print("ready", flush=True)
        while not go.exists():
            time.sleep(0.01)

        def walk(t: int) -> int:
            got = 0
            for i in range(per_thread):
                body = client.get("people", {"limit": 1, "offset": t * per_thread + i})
                got += isinstance(body, dict) and "people" in body
            return got

        with ThreadPoolExecutor(threads) as pool:
            served = sum(pool.map(walk, range(threads)))
        return {"served": served, "responses_429": gate.responses_429, "pace": gate.pace}


if __name__ == "__main__":
    uid, n_threads, n_requests, go_file = sys.argv[1:5]
    print(json.dumps(main(int(uid), int(n_threads), int(n_requests), Path(go_file))), flush=True)
