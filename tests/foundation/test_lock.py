"""The lock file pins everything an install uses: dependencies and the build backend."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _locked() -> dict[str, str]:
    """``requirements.lock`` as {canonical name: pinned version}; every line must be ``==``."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"requirements.lock: {line} is not an exact pin"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


REQUIREMENTS = [
    *PYPROJECT["build-system"]["requires"],  # the editable install builds with these
    *PYPROJECT["project"]["dependencies"],
    *PYPROJECT["project"]["optional-dependencies"]["dev"],
]


@pytest.mark.parametrize("requirement", REQUIREMENTS)
def test_lock_pins_a_version_pyproject_accepts(requirement):
    req = Requirement(requirement)
    pins = _locked()
    name = canonicalize_name(req.name)
    assert name in pins, f"{req.name} is not pinned in requirements.lock (make lock)"
    assert req.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])
