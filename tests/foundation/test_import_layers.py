"""Imports run one way: core below, sources and quality beside each other, flows above, CLI on top.

Every ``import`` in the project's packages is read from the source (module level and inside
functions alike) and mapped to its layer; a module may import its own layer and the layers below
it, never one above or beside it. The sandbox stands in for the vendors: it imports nothing of
ours. The layers are written in ``docs/architecture.md`` ("Code layers").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agentsync", "dlt_pipelines", "flows", "webhooks", "sandbox")

#: layer -> the layers it may import (its own always)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "sources": {"core"},
    "quality": {"core"},
    "flows": {"core", "sources", "quality"},
    "webhooks": {"core", "sources"},
    "cli": {"core", "sources", "quality", "flows", "webhooks", "sandbox"},
    "sandbox": set(),
}


def layer_of(module: str) -> str | None:
    """The layer of a module of ours (None: not ours, e.g. ``dlt`` or ``sqlalchemy``)."""
    top = module.split(".")[0]
    if top == "agentsync":
        if module == "agentsync.cli" or module.startswith("agentsync.commands"):
            return "cli"
        if module.startswith("agentsync.quality"):
            return "quality"
        return "core"
    layers = {"dlt_pipelines": "sources", "flows": "flows", "webhooks": "webhooks"}
    return {**layers, "sandbox": "sandbox"}.get(top)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import statement in the file, relative ones resolved."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            # ``from agentsync import quality`` imports the quality layer
            out.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return out


def violations(root: Path) -> list[str]:
    """One line per import of a layer the importing module may not use."""
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            importer = layer_of(_module_name(path, root))
            assert importer is not None
            seen: set[tuple[int, str]] = set()
            for line, module in imports(path, root):
                imported = layer_of(module)
                if imported is None or imported == importer or (line, imported) in seen:
                    continue
                seen.add((line, imported))
                if imported not in ALLOWED[importer]:
                    rel = path.relative_to(root).as_posix()
                    found.append(f"{rel}:{line}: {importer} imports {imported} ({module})")
    return found


def test_no_module_imports_a_layer_above_or_beside_it() -> None:
    assert violations(ROOT) == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The control: a copy of a core module and of a sandbox module, each given one import it
    may not have (one at module level, one inside a function), is reported line by line."""
    (tmp_path / "agentsync" / "quality").mkdir(parents=True)
    (tmp_path / "agentsync" / "__init__.py").write_text("")
    (tmp_path / "agentsync" / "quality" / "__init__.py").write_text("")
    (tmp_path / "agentsync" / "db.py").write_text(
        "from agentsync import settings\nfrom dlt_pipelines.run import make_pipeline\n"
    )
    (tmp_path / "agentsync" / "quality" / "gx.py").write_text(
        "from . import metrics\n\ndef f():\n    from dlt_pipelines import registry\n"
    )
    (tmp_path / "agentsync" / "quality" / "metrics.py").write_text("from ..db import engine\n")
    (tmp_path / "dlt_pipelines").mkdir()
    (tmp_path / "dlt_pipelines" / "__init__.py").write_text("from agentsync.quality import gx\n")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "after_load.py").write_text("import agentsync.cli\n")
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "world.py").write_text(
        "def epoch():\n    from agentsync.settings import get_settings\n"
    )
    assert violations(tmp_path) == [
        "agentsync/db.py:2: core imports sources (dlt_pipelines.run)",
        "agentsync/quality/gx.py:4: quality imports sources (dlt_pipelines)",
        "dlt_pipelines/__init__.py:1: sources imports quality (agentsync.quality)",
        "flows/after_load.py:1: flows imports cli (agentsync.cli)",
        "sandbox/world.py:2: sandbox imports core (agentsync.settings)",
    ]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("agentsync.settings", "core"),
        ("agentsync.contracts", "core"),
        ("agentsync.quality.gx", "quality"),
        ("agentsync.commands.sync", "cli"),
        ("agentsync.cli", "cli"),
        ("dlt_pipelines.fub.source", "sources"),
        ("flows.daily_sync", "flows"),
        ("webhooks.fub", "webhooks"),
        ("sandbox.world", "sandbox"),
        ("dlt", None),
    ],
)
def test_layer_of(module: str, layer: str | None) -> None:
    assert layer_of(module) == layer
