"""Which sources exist and their steps, in dependency order.

Each source package (``dlt_pipelines.<source>``) exposes ``steps() -> list[StepSpec]``; the flows
run them in the order given here, honouring each step's ``depends_on``.
"""

from __future__ import annotations

import importlib

from dlt_pipelines.common import EntitySpec, StepSpec

# reZEN first (its agents are what transaction participants point at), then the rest.
SOURCES: tuple[str, ...] = ("rezen", "fub", "skyslope", "qualia")


def source_steps(source: str) -> list[StepSpec]:
    """The steps of one source (empty if that source is not built yet)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    try:
        module = importlib.import_module(f"dlt_pipelines.{source}")
    except ModuleNotFoundError as err:
        if err.name == f"dlt_pipelines.{source}":
            return []
        raise
    return list(module.steps())


def all_steps(sources: tuple[str, ...] | list[str] | None = None) -> list[StepSpec]:
    out: list[StepSpec] = []
    for source in sources or SOURCES:
        out.extend(source_steps(source))
    return out


def all_entities(sources: tuple[str, ...] | list[str] | None = None) -> list[EntitySpec]:
    """Every entity of every built source (each source package exposes ``ENTITIES``)."""
    out: list[EntitySpec] = []
    for source in sources or SOURCES:
        try:
            module = importlib.import_module(f"dlt_pipelines.{source}")
        except ModuleNotFoundError as err:
            if err.name == f"dlt_pipelines.{source}":
                continue
            raise
        out.extend(getattr(module, "ENTITIES", []))
    return out
