"""What a flow run tells Prefect about itself: its run name and its result artifact.

- Run names say what ran: ``onboard-101``, ``daily-2026-12-01`` (the day in ``AGENTSYNC_TIMEZONE``,
  with the agents or sources when the run was narrowed), ``dispatch-2026-12-01T06:00``.
- Each flow run publishes one markdown artifact (key ``onboard-101``, ``daily-sync``,
  ``dispatch-onboardings``): its step table (step, status, what was counted, seconds, error or
  detail) and the quality gate's verdict with each failing check, so the Prefect UI answers
  "what did this run do" without reading logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agentsync.settings import get_settings

log = logging.getLogger(__name__)


def _local_now() -> datetime:
    return datetime.now(ZoneInfo(get_settings().timezone))


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def daily_run_name() -> str:
    """``daily-<date>``, plus ``-agents-101-102`` / ``-fub`` when the run was narrowed."""
    params = _parameters()
    name = f"daily-{_local_now():%Y-%m-%d}"
    if params.get("user_ids"):
        name += "-agents-" + "-".join(str(u) for u in params["user_ids"])
    if params.get("sources"):
        name += "-" + "-".join(params["sources"])
    return name


def dispatch_run_name() -> str:
    """``dispatch-<date>T<hh:mm>`` in ``AGENTSYNC_TIMEZONE``."""
    return f"dispatch-{_local_now():%Y-%m-%dT%H:%M}"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def steps_table(steps: Iterable[Mapping[str, Any]], agent_column: bool = False) -> list[str]:
    """A markdown table of step outcomes (``StepOutcome.as_dict()`` items, optionally with
    ``agent``)."""
    head = ["agent"] if agent_column else []
    head += ["step", "status", "counted", "seconds", "error / detail"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in steps:
        rows = s.get("rows")
        counted = f"{rows:,} {s.get('unit') or 'rows'}" if rows is not None else ""
        cells = [s.get("agent", "")] if agent_column else []
        cells += [s.get("step"), s.get("status"), counted, f"{s.get('seconds') or 0:.1f}"]
        cells.append(s.get("error") or s.get("detail") or "")
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def agent_runs_section(runs: Mapping[int, list[Mapping[str, Any]]] | None) -> list[str]:
    """Each agent's flow runs on the work pool (every attempt: name, final state, message);
    nothing when the agents ran in the daily sync's own process."""
    if runs is None:
        return []
    lines = ["", "**Agent flow runs:**", "", "| agent | flow run | state | message |"]
    lines.append("| --- | --- | --- | --- |")
    for user_id, attempts in runs.items():
        for a in attempts:
            cells = [user_id, a.get("name"), a.get("state"), a.get("message") or ""]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def gate_summary(outcome: Any) -> dict[str, Any] | None:
    """The gate's result as a flow result carries it (JSON-safe): ``success``, ``failures``,
    ``warnings``, ``data_docs_path`` and every check (``checks``); None when the gate did not
    run."""
    result = getattr(outcome, "result", None)
    if result is None:
        return None
    return {
        "success": bool(result.success),
        "failures": list(result.failures),
        "warnings": [w.line for w in result.warnings],
        "data_docs_path": result.data_docs_path,
        "checks": [c.as_dict() for c in getattr(result, "results", [])],
    }


def gate_section(gate: Mapping[str, Any] | None) -> list[str]:
    """The gate's verdict and each failing check and warning (a :func:`gate_summary`)."""
    if gate is None:
        return ["", "**Quality gate:** did not run."]
    verdict = "passed" if gate["success"] else "FAILED"
    checks = gate.get("checks") or []
    n = {v: sum(c["verdict"] == v for c in checks) for v in ("pass", "fail", "warn", "error")}
    counted = (
        f" — {n['pass']} checks passed, {n['fail']} failed, {n['warn']} warnings, "
        f"{n['error']} could not run"
        if checks
        else ""
    )
    lines = ["", f"**Quality gate:** {verdict}{counted}"]
    lines += [f"- FAIL {_cell(line)}" for line in gate["failures"]]
    lines += [f"- WARN {_cell(line)}" for line in gate["warnings"]]
    if gate.get("data_docs_path"):
        lines.append(f"\nData Docs: `{gate['data_docs_path']}`")
    return lines


def publish(key: str, title: str, lines: list[str], description: str) -> None:
    """Publish the markdown artifact ``key`` for this flow run; a failure is logged, never
    raised (the run's result does not depend on its report)."""
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(
            key=key, markdown="\n".join([f"# {title}", "", *lines]), description=description
        )
    except Exception:
        log.exception("could not publish the %s artifact", key)
