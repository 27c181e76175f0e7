"""``agentsync dbt ARGS...``: an analyst runs dbt on the project and agentsync's database.

The installed console script runs in a subprocess against the test's own fresh database, as an
analyst would run it; dbt's exit codes come through (0 ok, 1 a node failed, 2 dbt could not run
the command, one ``agentsync:`` line saying why). The manifest that run leaves is then read for
the project's exposures and overview page, which must say the truth about what reads the marts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from agentsync import db
from tests.foundation.test_exit_codes import _check, _run

pytestmark = pytest.mark.slow  # each dbt invocation parses the project (~5 s)


def test_dbt_runs_on_the_project_and_database_with_dbts_exit_codes(agentsync_env, tmp_path):
    env = dict(agentsync_env)
    password = env["AGENTSYNC_DATABASE_URL"].split("@")[0].rsplit(":", 1)[-1]

    listed = _run(["dbt", "ls", "--resource-type", "exposure", "--output", "name"], env, tmp_path)
    _check(listed, 0)
    names = {ln.strip() for ln in listed.stdout.splitlines() if "_" in ln and " " not in ln.strip()}
    assert names == {"agent_dashboard", "quality_gate_and_reconciliation"}, listed.stdout
    assert password not in listed.stdout + listed.stderr

    # A fresh database has no raw_qualia.orders: dbt reports the failed freshness node, exit 1.
    stale = _run(["dbt", "source", "freshness", "--select", "source:qualia"], env, tmp_path)
    _check(stale, 1)
    assert 'relation "raw_qualia.orders" does not exist' in stale.stdout, stale.stdout[-2000:]

    _check(_run(["dbt", "build", "--no-such-flag"], env, tmp_path), 2, "--no-such-flag")
    # an error dbt reports before it has read its flags is plain text in a pipe too
    bad_vars = _run(["dbt", "ls", "--vars", "{bad: ["], env, tmp_path)
    _check(bad_vars, 2, "is not valid YAML")
    assert "--vars argument is not valid" in bad_vars.stdout, bad_vars.stdout
    for out in (listed, stale, bad_vars):
        assert "\x1b[" not in out.stdout + out.stderr
    _check(_run(["dbt", "docs", "serve"], env, tmp_path), 2, "agentsync docs --serve")

    # What the ls left in the target dir: the project's exposures and overview page.
    manifest = json.loads(
        (Path(env["AGENTSYNC_DATA_DIR"]) / "dbt" / "target" / "manifest.json").read_text()
    )
    _exposures_tell_the_truth(manifest)


def _exposures_tell_the_truth(manifest: dict) -> None:
    from agentsync.entities import all_entities

    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}

    def marts(exposure: str) -> set[str]:
        deps = exposures[exposure]["depends_on"]["nodes"]
        return {f"{models[d]['schema']}.{models[d]['name']}" for d in deps}

    # The gate and reconciliation read each entity's mart: exactly the registry's marts.
    registry = {e.mart for e in all_entities() if e.mart}
    assert marts("quality_gate_and_reconciliation") == registry
    # The dashboard reads marts only, and its description says what it shows.
    assert all(m.startswith("marts.") for m in marts("agent_dashboard"))
    assert {"marts.people", "marts.deals", "marts.transactions"} <= marts("agent_dashboard")
    for exposure in exposures.values():
        assert exposure["description"].strip() and "{{" not in exposure["description"]
    overview = manifest["docs"]["doc.agentsync.__overview__"]["block_contents"]
    assert "How data flows" in overview and "agentsync dbt" in overview


def _land_qualia_load(hours_ago: float) -> None:
    """A raw_qualia.orders row whose dlt load id (epoch seconds, what the source's
    ``loaded_at_field`` reads) is ``hours_ago`` before the database's now."""
    with db.begin() as conn:
        conn.execute(text("create schema if not exists raw_qualia"))
        conn.execute(text("create table if not exists raw_qualia.orders (_dlt_load_id text)"))
        conn.execute(text("truncate raw_qualia.orders"))
        conn.execute(
            text(
                "insert into raw_qualia.orders select "
                "(extract(epoch from now()) - :h * 3600)::numeric(20, 6)::text"
            ),
            {"h": hours_ago},
        )


def test_source_freshness_results_reach_health(agentsync_env, tmp_path):
    from agentsync.quality.health import CRITICAL, FRESHNESS_CHECK, WARNING, check_health

    env = dict(agentsync_env)
    select = ["dbt", "source", "freshness", "--select", "source:qualia.orders"]

    def freshness_item():
        items = [i for i in check_health().items if i.check == FRESHNESS_CHECK]
        assert [i.key for i in items] == ["qualia.orders"], items
        return items[0]

    assert not [i for i in check_health().items if i.check == FRESHNESS_CHECK]  # never run
    _land_qualia_load(hours_ago=100)  # past error_after (72 h)
    _check(_run(select, env, tmp_path), 1)
    item = freshness_item()
    assert item.level == CRITICAL and 99 < item.value < 101, item
    assert "errors after 72 hour(s)" in item.message, item.message

    _land_qualia_load(hours_ago=30)  # past warn_after (24 h) only: dbt exits 0
    _check(_run(select, env, tmp_path), 0)
    item = freshness_item()
    assert item.level == WARNING and 29 < item.value < 31, item
