"""The quality gate: the GX checkpoint plus dbt's tests; any failure fails the gate.

This is the step that gates a deployment (``agentsync quality-gate``, exit 1 on failure) and the
last step of every flow (``run_quality_gate(user_ids)``). Each failure is one line naming the
check: ``gx <source>.<entity> count: ...`` / ``gx <source>.<entity> freshness: ...`` (with the
failing agents) or ``dbt test.<project>.<test>: fail: ...``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentsync.errors import AgentsyncError
from agentsync.quality import gx
from agentsync.quality.gx import FailedCheck
from agentsync.settings import Settings, get_settings
from dlt_pipelines.common import EntitySpec

log = logging.getLogger(__name__)


@dataclass
class GateResult:
    """``success`` is False when any check failed; ``failures`` names each failing check.

    ``checks`` holds the same failures as :class:`~agentsync.quality.gx.FailedCheck` items (a
    stable check name and the failing agents), which is what alerts are keyed on; ``user_ids`` is
    the scope the gate ran with (None: all agents), so an alert about another agent's data is
    neither confirmed nor cleared by a gate that did not look at that agent.
    """

    success: bool
    failures: list[str] = field(default_factory=list)
    data_docs_path: str | None = None
    checks: list[FailedCheck] = field(default_factory=list)
    user_ids: list[int] | None = None


def run_quality_gate(
    user_ids: list[int] | None = None,
    *,
    entities: Sequence[EntitySpec] | None = None,
    context_root: Path = gx.CONTEXT_ROOT,
    dbt_args: Sequence[str] | None = ("test",),
    auto_build: bool = True,
    settings: Settings | None = None,
) -> GateResult:
    """Run the GX checkpoint (for ``user_ids``, default all agents) and ``dbt test``.

    Args:
        user_ids: scope the GX checks to these agents (dbt tests always cover all rows).
        entities: default the whole registry.
        context_root: the GX project root (default ``expectations/``).
        dbt_args: the dbt command to run (``None`` skips dbt, for callers that just ran it).
        auto_build: when the context is out of date with the registry, validate with a private
            up-to-date one (see :func:`agentsync.quality.gx.run_checkpoint`) instead of failing.
        settings: default the process settings.

    Returns:
        A :class:`GateResult`; it never raises for a failing check, only for a broken setup
        that it reports as a failure too.
    """
    s = settings or get_settings()
    checks: list[FailedCheck] = []
    docs: str | None = None
    try:
        outcome = gx.run_checkpoint(
            user_ids, entities=entities, root=context_root, settings=s, auto_build=auto_build
        )
        checks += outcome.checks
        docs = outcome.data_docs_path
        if not outcome.success and not outcome.checks:
            line = "gx checkpoint failed without a failing expectation (see Data Docs)"
            checks.append(FailedCheck("gx checkpoint", [], line))
    except AgentsyncError as err:
        checks.append(FailedCheck("gx context", [], f"gx: {err}"))
    if dbt_args:
        from agentsync.transform import run_dbt

        res = run_dbt(list(dbt_args), s, raise_on_failure=False)
        # a dbt failure reads "<node>: <status>: <message>"; the node is the stable name
        checks += [FailedCheck(f"dbt {f.split(': ')[0]}", [], f"dbt {f}") for f in res.failures]
        if not res.success and not res.failures:
            line = f"dbt {' '.join(dbt_args)} failed (see dbt logs)"
            checks.append(FailedCheck(f"dbt {' '.join(dbt_args)}", [], line))
    failures = [c.line for c in checks]
    for line in failures:
        log.warning("quality gate: %s", line)
    return GateResult(
        success=not failures,
        failures=failures,
        data_docs_path=docs,
        checks=checks,
        user_ids=sorted(set(user_ids)) if user_ids else None,
    )
