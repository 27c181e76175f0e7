"""Nothing in the repository points outside it, and every vendor-facts citation resolves.

Vendor facts the code relies on live in ``docs/vendors/`` (issue 20, item 4). These tests read
every tracked file (``git ls-files``):

- none may mention the sibling research/seed folder that exists only on the machine where the
  project was started (the needle is built at run time, so this file does not match itself);
- every ``docs/vendors/<name>.md`` cited anywhere must be a tracked file, and a section cited
  right after it (``docs/vendors/rezen.md §5``, with or without backticks) must be a numbered
  heading of that file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDLE = "/".join(["..", "shared"]).encode()
SECTION_SIGN = "\N{SECTION SIGN}".encode()
CITATION = re.compile(
    rb"docs/vendors/([A-Za-z0-9_-]+\.md)(?:`{1,2}|\))?\s*" + SECTION_SIGN + rb"\s*(\d+(?:\.\d+)*)"
)
FILE_CITATION = re.compile(rb"docs/vendors/([A-Za-z0-9_-]+\.md)")
HEADING = re.compile(r"^#{2,4}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    return [name for name in out.decode().split("\0") if name]


def _contents(names: list[str]) -> dict[str, bytes]:
    files = {}
    for name in names:
        path = ROOT / name
        if path.is_file():  # a tracked file deleted in the work tree is skipped
            files[name] = path.read_bytes()
    return files


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = [name for name, data in _contents(_tracked()).items() if NEEDLE in data]
    assert not offenders, f"files citing {NEEDLE.decode()}/... (use docs/vendors/): {offenders}"


def test_cited_vendor_files_and_sections_exist() -> None:
    tracked = _tracked()
    files = _contents(tracked)
    vendor_files = {Path(name).name for name in tracked if name.startswith("docs/vendors/")}
    sections = {
        Path(name).name: set(HEADING.findall(data.decode()))
        for name, data in files.items()
        if name.startswith("docs/vendors/") and name.endswith(".md")
    }
    missing_files: set[str] = set()
    missing_sections: set[str] = set()
    for name, data in files.items():
        for cited in FILE_CITATION.findall(data):
            if cited.decode() not in vendor_files:
                missing_files.add(f"{name}: docs/vendors/{cited.decode()}")
        for cited, section in CITATION.findall(data):
            vendor, number = cited.decode(), section.decode()
            if vendor in vendor_files and number not in sections.get(vendor, set()):
                missing_sections.add(f"{name}: docs/vendors/{vendor} §{number}")
    assert not missing_files, f"cited vendor files that do not exist: {sorted(missing_files)}"
    assert not missing_sections, f"cited sections that do not exist: {sorted(missing_sections)}"
