"""Data Docs that render with no network, and validation runs named after what ran.

GX 1.24.1's Data Docs pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from
public CDNs, and the index's tables are built by those scripts: on a machine with no internet
(a gatekeeper's laptop on a plane, a locked-down server, this one) the index is an empty shell
and every page unstyled. After each gate run :func:`localize` copies the same versions, kept in
``agentsync/quality/data_docs_assets/`` (see its README for where each file comes from and its
license), to ``<data_docs>/static/agentsync/`` and points every page at them. The pages then
need nothing but the files beside them.

:func:`run_name` names a validation run after the flow run, the agents and the time
(``onboard-101_agents-101_2026-12-05T2230Z``) instead of GX's ``__none__``; the index lists it
beside each suite.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).with_name("data_docs_assets")
#: where the assets go, relative to the Data Docs root
TARGET = Path("static") / "agentsync"

#: each CDN address the GX templates use -> the same file under ``data_docs_assets``
URL_TO_ASSET: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery-3.7.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "js/popper-1.12.9.min.js"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "js/bootstrap-4.3.1.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "css/bootstrap-4.3.1.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "js/bootstrap-table-1.19.1.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "css/bootstrap-table-1.19.1.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "js/bootstrap-table-filter-control-1.19.1.min.js",
    # the templates ask for 1.19.0's stylesheet (two rules) beside 1.19.1's script
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "css/bootstrap-table-filter-control-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "css/bootstrap-table-filter-control-1.19.1.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "css/bootstrap-datepicker-1.9.0.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "js/bootstrap-datepicker-1.9.0.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/all.min.css"
    ),
}

# tags removed: Vega draws charts no agentsync suite has; the dark theme is 880 KB unminified
_DROPPED = re.compile(
    r'<script src="https://cdn\.jsdelivr\.net/npm/vega(?:-lite|-embed)?@\d+"></script>\s*'
    r'|<link [^>]*href="https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@[^"]*"[^>]*>\s*'
)
# GX's logo from its S3 bucket (with a data context id in the query) -> the copy GX ships
_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[^\"']*")
# SRI / CORS attributes: a file:// page cannot load a crossorigin script
_SRI = re.compile(r'\s(?:integrity|crossorigin)="[^"]*"')
# a resource (not a link to follow) still loaded from the network
_EXTERNAL = re.compile(
    r'<(?:script|link|img|source)\b[^>]*\b(?:src|href|srcset)="(https?://[^"]+)"'
)


def _copy_assets(root: Path) -> None:
    """Copy the assets under ``root`` (only files missing or of another size)."""
    for src in ASSETS_DIR.rglob("*"):
        if src.is_dir() or src.name == "README.md":
            continue
        dst = root / TARGET / src.relative_to(ASSETS_DIR)
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


def localize_page(html: str, prefix: str) -> str:
    """``html`` with every CDN asset pointed at ``prefix`` + its local copy, the Vega and
    dark-theme tags removed and GX's remote logo replaced by its local copy. ``prefix`` is the
    page's relative path to the Data Docs root (``""``, ``"../../"``)."""
    html = _DROPPED.sub("", html)
    for url, asset in URL_TO_ASSET.items():
        if url in html:
            html = html.replace(url, f"{prefix}{TARGET.as_posix()}/{asset}")
    html = _LOGO.sub(f"{prefix}static/images/logo-long.png", html)
    return _SRI.sub("", html)


def external_resources(html: str) -> list[str]:
    """Addresses the page still loads from the network (links to follow are not counted)."""
    return _EXTERNAL.findall(html)


def localize(root: Path) -> int:
    """Make the Data Docs under ``root`` render offline; returns how many pages were rewritten.

    Pages already localized are left alone (GX rewrites the index and the new run's pages; the
    others stay as they were), so the cost follows the pages the run wrote. A page that still
    loads something from the network, or draws a Vega chart, is logged as a warning.
    """
    if not root.is_dir():
        return 0
    _copy_assets(root)
    rewritten = 0
    left: set[str] = set()
    for page in root.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        if "https://" not in html:
            continue
        prefix = os.path.relpath(root, page.parent).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        new = localize_page(html, prefix)
        if new != html:
            page.write_text(new, encoding="utf-8")
            rewritten += 1
        left.update(external_resources(new))
        if "vegaEmbed(" in new:
            log.warning("Data Docs page %s draws a Vega chart, which needs the network", page)
    if left:
        log.warning(
            "Data Docs still load %d resource(s) from the network: %s",
            len(left),
            ", ".join(sorted(left)[:5]),
        )
    return rewritten


def run_name(user_ids: Sequence[int] | None, now: datetime) -> str:
    """``<flow run name or "quality-gate">_agents-<ids or "all">_<UTC time>``: what the Data
    Docs index shows for a validation run."""
    flow = "quality-gate"
    if "prefect" in sys.modules:  # a flow imported it; the gate itself never starts Prefect
        from prefect.runtime import flow_run

        flow = flow_run.name or flow
    agents = "-".join(str(u) for u in sorted(user_ids)) if user_ids else "all"
    if len(agents) > 60:
        agents = f"{len(user_ids or [])}-agents"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(flow))
    return f"{safe}_agents-{agents}_{now:%Y-%m-%dT%H%M%SZ}"
