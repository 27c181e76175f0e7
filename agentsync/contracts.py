"""The contracts the sources, the quality checks and the flows share: steps, results, entities.

Pure data types, no behaviour beyond a key: they live in the core so that ``dlt_pipelines``
(which fills them in) and ``agentsync.quality`` (which reads them) depend on the same
definition without depending on each other (imports run one way: core → sources / quality →
flows → CLI; ``tests/foundation/test_import_layers.py`` enforces it). The declarations of the
entities themselves are in :mod:`agentsync.entities`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

RunKind = Literal["onboarding", "daily", "webhook", "manual"]


@dataclass(frozen=True)
class EntityResult:
    """What a step loaded for one entity."""

    entity: str
    rows: int
    reported_total: int | None = None
    cursor: str | None = None
    quarantined: int = 0


@dataclass(frozen=True)
class StepSpec:
    """One onboarding/sync step of a source, as the flows run it.

    ``run(user_id, kind, flow_run_id)`` loads the step's entities for one agent (recording each in
    ``ops.sync_runs``) and returns what it loaded; it raises on failure. ``depends_on`` names
    steps (of any source, as ``"<source>.<step>"``) that must have succeeded first.
    """

    source: str
    name: str
    run: Callable[[int, RunKind, str | None], list[EntityResult]]
    depends_on: tuple[str, ...] = ()
    description: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}.{self.name}"


@dataclass(frozen=True)
class EntitySpec:
    """One entity of a source, as reconciliation, health and the quality suites see it.

    Args:
        source: ``fub``, ``rezen``, ``skyslope`` or ``qualia``.
        entity: the entity name used in ``ops.sync_runs.entity`` (e.g. ``people``).
        raw_table: schema-qualified raw table (append-only history), e.g. ``raw_fub.people``.
        raw_id_column: the vendor id column in the raw table.
        mart: schema-qualified final table, e.g. ``marts.people`` (None if the entity has none).
        mart_id_column: the id column in the mart (one row per ``user_id`` + this id).
        freshness_column: a timestamp column in the mart telling how new the newest record is.
        excluded_flag_columns: boolean mart columns that mark rows kept but excluded from the
            "live" count, by reason (e.g. ``{"deleted": "is_deleted", "trashed": "is_trashed"}``).
    """

    source: str
    entity: str
    raw_table: str
    raw_id_column: str
    mart: str | None
    mart_id_column: str
    freshness_column: str | None = None
    excluded_flag_columns: dict[str, str] = field(default_factory=dict)
