"""What the flows do after loading: the dbt build of the affected models, then the quality checks.

Both are optional in the sense that they may have nothing to do yet (a source without dbt models,
the quality package not installed); then the step is ``skipped`` with the reason, never reported
as passed.
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Iterable
from typing import Any

from agentsync.transform import PROJECT_DIR, run_dbt
from flows.locks import dbt_lock
from flows.runner import StepOutcome, error_text


def dbt_selection(sources: Iterable[str]) -> list[str]:
    """dbt ``--select`` terms for the sources' staging folders and everything downstream."""
    return [
        f"staging.{s}+"
        for s in sorted(set(sources))
        if (PROJECT_DIR / "models" / "staging" / s).is_dir()
    ]


def dbt_build(sources: Iterable[str]) -> StepOutcome:
    """``dbt build`` of the given sources' models and their descendants (marts included).

    The database-wide dbt lock serialises builds from concurrent runs (another process or
    machine); inside a Prefect run ``run_dbt`` uses ``PrefectDbtRunner`` (a task per node).
    """
    sources = sorted(set(sources))
    select = dbt_selection(sources)
    if not select:
        why = (
            f"no dbt models for {', '.join(sources)} yet"
            if sources
            else "no source loaded anything in this run"
        )
        return StepOutcome("dbt.build", "dbt", "skipped", error=why)
    started = time.monotonic()
    try:
        with dbt_lock():
            result = run_dbt(["build", "--select", *select], raise_on_failure=False)
    except Exception as err:
        return StepOutcome(
            "dbt.build", "dbt", "failed", error=error_text(err), seconds=time.monotonic() - started
        )
    seconds = time.monotonic() - started
    models = sum(1 for r in result.results if str(r.get("node", "")).startswith("model."))
    if result.success:
        return StepOutcome("dbt.build", "dbt", "done", rows=models, seconds=seconds)
    detail = "; ".join(result.failures[:5]) or "dbt build failed (see dbt logs)"
    return StepOutcome("dbt.build", "dbt", "failed", rows=models, error=detail, seconds=seconds)


def _quality_module() -> Any | None:
    try:
        return importlib.import_module("agentsync.quality")
    except ModuleNotFoundError as err:
        if err.name == "agentsync.quality":
            return None
        raise


def _call(fn: Any, **available: Any) -> Any:
    """Call ``fn`` with those of ``available`` it accepts (the quality API is keyword-based)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**available)
    return fn(**{k: v for k, v in available.items() if k in params})


def _passed(result: Any) -> tuple[bool | None, str]:
    """Read success and a one-line summary from a quality result of any reasonable shape."""
    if isinstance(result, bool):
        return result, "passed" if result else "failed"
    ok = None
    for attr in ("success", "passed", "ok"):
        value = result.get(attr) if isinstance(result, dict) else getattr(result, attr, None)
        if isinstance(value, bool):
            ok = value
            break
    summary = None
    for attr in ("summary", "message", "status", "level"):
        value = result.get(attr) if isinstance(result, dict) else getattr(result, attr, None)
        if value is not None and not callable(value):
            summary = str(value)
            break
    return ok, (summary or ("passed" if ok else "failed" if ok is False else "ran"))[:2000]


def quality_steps(user_ids: list[int] | None, kind: str) -> list[StepOutcome]:
    """Run the quality gate, then (daily sync) health and alerts; one outcome for each.

    Args:
        user_ids: the agents the run touched (None: all).
        kind: ``onboarding`` runs the gate for the agent; ``daily`` also checks health and
            sends alerts.
    """
    names = ["quality.gate"] + (["quality.health", "quality.alerts"] if kind == "daily" else [])
    module = _quality_module()
    wanted = {
        "quality.gate": "run_quality_gate",
        "quality.health": "check_health",
        "quality.alerts": "evaluate_and_notify",
    }
    out: list[StepOutcome] = []
    health: Any = None
    for name in names:
        fn = getattr(module, wanted[name], None) if module is not None else None
        if fn is None:
            out.append(
                StepOutcome(
                    name,
                    "quality",
                    "skipped",
                    error=f"agentsync.quality.{wanted[name]} is not available in this build",
                )
            )
            continue
        started = time.monotonic()
        try:
            result = _call(fn, user_ids=user_ids, kind=kind, health=health, report=health)
        except Exception as err:
            out.append(
                StepOutcome(
                    name,
                    "quality",
                    "failed",
                    error=error_text(err),
                    seconds=time.monotonic() - started,
                )
            )
            continue
        if name == "quality.health":
            health = result
        ok, summary = _passed(result)
        status = "failed" if ok is False else "done"
        out.append(
            StepOutcome(
                name,
                "quality",
                status,
                error=None if ok is not False else summary,
                seconds=time.monotonic() - started,
            )
        )
    return out
