"""``agentsync docs --serve``: the real ``dbt docs generate`` (lineage included), served on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.core import free_port

pytestmark = pytest.mark.slow  # dbt compiles the whole project (~1 min on 2 cores)


def test_docs_generates_the_site_with_lineage_and_serves_it(agentsync_env):
    from agentsync.transform import run_dbt

    # One small model built first, so the catalog has a relation from the database to describe.
    assert run_dbt(["run", "--select", "stg_qualia__orders"]).success
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentsync.cli", "docs", "--serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                home = httpx.get(f"{url}/", timeout=5)
                break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=30) if proc.poll() is not None else ("", "")
                pytest.fail(f"docs server did not come up on {url}: {out[-2000:]} {err[-2000:]}")
            time.sleep(1)
        assert home.status_code == 200
        assert "<html" in home.text.lower()
        served = httpx.get(f"{url}/manifest.json", timeout=30)
        assert served.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]

    target = Path(agentsync_env["AGENTSYNC_DATA_DIR"]) / "dbt" / "target"
    index = target / "index.html"
    assert f"dbt docs: {index}" in out
    assert f"serving on {url}/" in out
    assert index.is_file()
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    assert served.json()["metadata"] == manifest["metadata"]  # the server serves this site
    # Lineage tells the truth: source -> staging -> mart, with no layer beside it. The Qualia
    # mart reads the staging model, which reads the raw source; every staging model has a child.
    parents = manifest["parent_map"]
    assert "model.agentsync.stg_qualia__orders" in parents["model.agentsync.title_orders"]
    assert "source.agentsync.qualia.orders" in parents["model.agentsync.stg_qualia__orders"]
    children = manifest["child_map"]
    staging = [
        u
        for u, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["name"].startswith("stg_")
    ]
    assert staging
    unread = [u for u in staging if not any(c.startswith("model.") for c in children[u])]
    assert not unread, f"staging models no model reads: {unread}"
    # The catalog describes the relation built in the database, with its columns.
    built = catalog["nodes"]["model.agentsync.stg_qualia__orders"]
    assert built["columns"]
