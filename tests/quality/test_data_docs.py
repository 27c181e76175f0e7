"""Data Docs render with no network, and each validation run is named after what ran.

The browser test opens the Data Docs index in headless Chromium with every host name made
unresolvable (``--host-resolver-rules``), the way a gatekeeper on a closed network opens it, and
reads back the DOM the page's scripts built: the index's rows are built by bootstrap-table in the
browser, so they exist only if the scripts loaded. Its control removes the local assets and sees
the empty shell GX's CDN-bound pages give offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agentsync.quality import data_docs
from agentsync.quality.gate import run_quality_gate
from tests.quality.conftest import SPEC, TinySource, execute, widgets

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no host name resolves: no network at all
    "--virtual-time-budget=5000",  # let the page's scripts run before the dump
]
ROW = re.compile(r'<tr class="clickable-row" data-href="([^"]+)"')


def _gate(root: Path, user_ids: list[int] | None = None):
    return run_quality_gate(user_ids, entities=[SPEC], context_root=root, dbt_args=None)


def _two_runs(tiny: TinySource, context: Path) -> Path:
    """A passing run for agent 1 and a failing one for agent 2; returns the index."""
    tiny.sync(1, widgets(range(1, 6)), reported_total=5)
    tiny.sync(2, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    assert _gate(context, [1]).success
    execute("delete from marts.qtest_widgets where user_id = 2 and widget_id = '2'")
    failed = _gate(context, [2])
    assert not failed.success
    assert failed.data_docs_path
    return Path(failed.data_docs_path)


def _browser(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM
    out = subprocess.run(
        [CHROMIUM, *OFFLINE, f"--user-data-dir={tmp_path / 'chromium'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def test_pages_load_nothing_from_the_network_and_runs_are_named(
    tiny: TinySource, context: Path
) -> None:
    index = _two_runs(tiny, context)
    pages = list(index.parent.rglob("*.html"))
    assert len(pages) >= 4  # the index, the suite, two validation results
    for page in pages:
        html = page.read_text()
        assert data_docs.external_resources(html) == [], page
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html, page
    for asset in data_docs.URL_TO_ASSET.values():
        assert (index.parent / data_docs.TARGET / asset).is_file(), asset
    # the validation runs are named after what ran (outside Prefect: the CLI's gate), not __none__
    results = sorted(p for p in pages if "/validations/" in p.as_posix())
    names = [p.relative_to(index.parent / "validations").parts[2] for p in results]
    assert all(re.fullmatch(r"quality-gate_agents-[12]_\d{4}-\d\d-\d\dT\d{6}Z", n) for n in names)
    assert {n.split("_")[1] for n in names} == {"agents-1", "agents-2"}
    assert "__none__" not in index.read_text()


def test_localize_points_nested_pages_at_the_root_and_drops_what_is_not_kept() -> None:
    html = (
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>\n'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"'
        ' integrity="sha384-x" crossorigin="anonymous"></script>\n'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png'
        '?d=1&dataContextId=2"><a href="https://greatexpectations.io">GX</a>'
    )
    out = data_docs.localize_page(html, "../../")
    assert '<script src="../../static/agentsync/js/jquery-3.7.1.min.js"></script>' in out
    assert '<script src="../../static/agentsync/js/popper-1.12.9.min.js"></script>' in out
    assert "vega" not in out and "integrity" not in out and "crossorigin" not in out
    assert '<img src="../../static/images/logo-long.png">' in out
    assert data_docs.external_resources(out) == []  # a link to follow is not a resource
    assert data_docs.external_resources(html) != []


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (make test installs it)")
def test_the_index_lists_every_run_in_a_browser_with_no_network(
    tiny: TinySource, context: Path, tmp_path: Path
) -> None:
    index = _two_runs(tiny, context)
    dom = _browser(tmp_path, "--dump-dom", index.as_uri())
    rows = ROW.findall(dom)
    runs = [r for r in rows if r.startswith("validations/")]
    assert len(runs) == 2, rows
    assert {r.split("/")[3].split("_")[1] for r in runs} == {"agents-1", "agents-2"}
    assert "expectations/qtest/widgets.html" in rows  # the suites tab
    # the status column: one passed run, one failed run
    assert dom.count("fa-check-circle") >= 1 and dom.count("fa-times") >= 1
    # a validation page is styled and its table rendered too
    page = _browser(tmp_path, "--dump-dom", (index.parent / runs[0]).as_uri())
    assert "static/agentsync/css/bootstrap-4.3.1.min.css" in page
    shot = tmp_path / "data_docs_index.png"
    _browser(tmp_path, "--window-size=1400,900", f"--screenshot={shot}", index.as_uri())
    assert shot.stat().st_size > 10_000

    # control: without the local assets the page is GX's offline shell, with no rows at all
    shutil.rmtree(index.parent / data_docs.TARGET)
    assert ROW.findall(_browser(tmp_path, "--dump-dom", index.as_uri())) == []
