"""CI runs the README's test command, nothing weaker, and "no tests collected" fails it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_reports_no_tests_collected_as_a_failure(tmp_path):
    # -o: treat the venv stamp as up to date (this test must not reinstall the shared venv).
    # --basetemp: a nested pytest on the default one would reset /tmp/pytest-of-<user> to 0700
    # under the running suite.
    proc = subprocess.run(
        [
            "make",
            "-o",
            ".venv/.installed",
            "test",
            "PYTEST_ARGS=-k no_such_test_zz9 -p no:cacheprovider"
            f" --basetemp={tmp_path / 'nested'} tests/foundation/test_ci.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "make test: FAILED, pytest collected no tests" in proc.stderr


def test_ci_run_calls_make_test_without_weakening_variables(tmp_path):
    """.ci/run drops PYTEST_ARGS/PYTEST_ADDOPTS; a stand-in ``make`` records what it received.

    The real ``make test`` is the whole suite (25+ minutes), so ``make`` is the one thing replaced.
    """
    record = tmp_path / "record"
    fake_make = tmp_path / "bin" / "make"
    fake_make.parent.mkdir()
    fake_make.write_text(
        "#!/usr/bin/env bash\n"
        f'{{ echo "args=$*"; echo "PYTEST_ARGS=${{PYTEST_ARGS-unset}}";'
        f' echo "PYTEST_ADDOPTS=${{PYTEST_ADDOPTS-unset}}"; }} > {record}\n'
        "exit ${FAKE_MAKE_RC:-0}\n"
    )
    fake_make.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake_make.parent}:{os.environ['PATH']}",
        "PYTEST_ARGS": "-k nothing",
        "PYTEST_ADDOPTS": "-m 'not slow'",
    }
    ok = subprocess.run([str(ROOT / ".ci" / "run")], env=env, capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert record.read_text().splitlines() == [
        "args=test",
        "PYTEST_ARGS=unset",
        "PYTEST_ADDOPTS=unset",
    ]
    failed = subprocess.run(
        [str(ROOT / ".ci" / "run")],
        env={**env, "FAKE_MAKE_RC": "2"},
        capture_output=True,
        timeout=60,
    )
    assert failed.returncode != 0  # any failure of `make test` fails CI
