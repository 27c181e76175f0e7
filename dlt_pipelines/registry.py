"""The sources' steps, in dependency order.

Each source package (``dlt_pipelines.<source>``) exposes ``steps() -> list[StepSpec]``; the flows
run them in the order of :data:`agentsync.entities.SOURCES`, honouring each step's
``depends_on``. The entities each source loads are declared in :mod:`agentsync.entities` (the
quality checks read them without importing the sources).
"""

from __future__ import annotations

from types import ModuleType

from agentsync.contracts import StepSpec
from agentsync.entities import SOURCES
from dlt_pipelines import fub, qualia, rezen, skyslope

_PACKAGES: dict[str, ModuleType] = {
    "rezen": rezen,
    "fub": fub,
    "skyslope": skyslope,
    "qualia": qualia,
}
assert set(_PACKAGES) == set(SOURCES)

__all__ = ["SOURCES", "all_steps", "source_steps"]


def source_steps(source: str) -> list[StepSpec]:
    """The steps of one source."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    return list(_PACKAGES[source].steps())


def all_steps(sources: tuple[str, ...] | list[str] | None = None) -> list[StepSpec]:
    out: list[StepSpec] = []
    for source in sources or SOURCES:
        out.extend(source_steps(source))
    return out
