"""The processed-load bookkeeping's dbt unit tests (``unit_tests:`` in
``dbt_project/models/marts/crm/_crm__models.yml``), run by pytest, and shown to catch a mart that
orders loads as text.

They give ``fub_users`` the ops sources as fixtures: loads of this run's batch, processed ones,
one committed after the batch was frozen, another raw schema's; and the rows the mart holds.
"""

from __future__ import annotations

import shutil

from agentsync.transform import PROJECT_DIR, run_dbt
from tests.dbt_projects import run_project

SELECT = ["--select", "fub_users,test_type:unit"]
UNIT_TESTS = {
    "unit_test.agentsync.fub_users.fub_users_merges_the_newest_version_of_unprocessed_loads",
    "unit_test.agentsync.fub_users.fub_users_full_refresh_reads_every_load_of_the_batch",
}


def test_the_bookkeeping_unit_tests_pass(agentsync_env) -> None:
    result = run_dbt(["test", *SELECT], raise_on_failure=False)
    assert result.success, result.failures
    ran = {r["node"]: r["status"] for r in result.results if r["node"].startswith("unit_test.")}
    assert ran == dict.fromkeys(UNIT_TESTS, "pass")


def test_they_catch_loads_ordered_as_text(agentsync_env, tmp_path) -> None:
    """The control: the same mart ordering load ids as text (load 999.5 after 1000.25) fails."""
    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    mart = project / "models" / "marts" / "crm" / "fub_users.sql"
    numeric = "cast(_dlt_load_id as numeric) desc"
    assert numeric in mart.read_text()
    mart.write_text(mart.read_text().replace(numeric, "_dlt_load_id desc"))
    done = run_project(project, tmp_path / "target", "test", *SELECT, check=False)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "FAIL" in done.stdout and "fub_users_merges_the_newest_version" in done.stdout
