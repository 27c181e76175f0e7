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
from agentsync.settings import Settings, get_settings
from dlt_pipelines.common import EntitySpec

log = logging.getLogger(__name__)


@dataclass
class GateResult:
    """``success`` is False when any check failed; ``failures`` names each failing check."""

    success: bool
    failures: list[str] = field(default_factory=list)
    data_docs_path: str | None = None


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
    failures: list[str] = []
    docs: str | None = None
    try:
        outcome = gx.run_checkpoint(
            user_ids, entities=entities, root=context_root, settings=s, auto_build=auto_build
        )
        failures += outcome.failures
        docs = outcome.data_docs_path
        if not outcome.success and not outcome.failures:
            failures.append("gx checkpoint failed without a failing expectation (see Data Docs)")
    except AgentsyncError as err:
        failures.append(f"gx: {err}")
    if dbt_args:
        from agentsync.transform import run_dbt

        res = run_dbt(list(dbt_args), s, raise_on_failure=False)
        failures += [f"dbt {f}" for f in res.failures]
        if not res.success and not res.failures:
            failures.append(f"dbt {' '.join(dbt_args)} failed (see dbt logs)")
    for line in failures:
        log.warning("quality gate: %s", line)
    return GateResult(success=not failures, failures=failures, data_docs_path=docs)
