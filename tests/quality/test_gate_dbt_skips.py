"""The gate's dbt tests on an install where some sources have no agents yet (issue 14).

A dbt test over a model that was never built (no agent has loaded its source yet) is skipped
with the reason — not run, not passed, not an error — and a failing test over a built model
still fails the gate (that half runs over real FUB data: ``test_e2e_fub.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsync.quality.gate import run_quality_gate, unbuilt_tests
from agentsync.quality.gx import build_context
from tests.quality.conftest import SPEC, TinySource, widgets


def _source(name: str, table: str) -> tuple[str, dict]:
    uid = f"source.agentsync.{name}.{table}"
    node = {
        "resource_type": "source",
        "source_name": name,
        "name": table,
        "schema": f"raw_{name}",
        "identifier": table,
    }
    return uid, node


def _model(name: str, schema: str, parents: list[str], materialized: str = "table") -> tuple:
    uid = f"model.agentsync.{name}"
    node = {
        "resource_type": "model",
        "name": name,
        "alias": name,
        "schema": schema,
        "config": {"materialized": materialized},
        "depends_on": {"nodes": parents},
    }
    return uid, node


def _test(name: str, parents: list[str]) -> tuple[str, dict]:
    uid = f"test.agentsync.{name}"
    return uid, {"resource_type": "test", "name": name, "depends_on": {"nodes": parents}}


def _manifest() -> dict:
    sources = dict(
        [_source("fub", "people"), _source("skyslope", "sales"), _source("skyslope", "users")]
    )
    nodes = dict(
        [
            _model("stg_fub__people", "staging", ["source.agentsync.fub.people"], "view"),
            _model("people", "marts", ["model.agentsync.stg_fub__people"]),
            _model("skyslope_sales", "marts", ["source.agentsync.skyslope.sales"]),
            _model("skyslope_users", "marts", ["source.agentsync.skyslope.users"]),
            _model(
                "transactions",
                "marts",
                ["model.agentsync.people", "model.agentsync.skyslope_sales"],
            ),
            _test("unique_key_people_user_id__person_id", ["model.agentsync.people"]),
            _test("not_null_stg_fub__people_id", ["model.agentsync.stg_fub__people"]),
            _test("unique_skyslope_sales_id", ["model.agentsync.skyslope_sales"]),
            _test("unique_skyslope_users_id", ["model.agentsync.skyslope_users"]),
            _test(
                "relationships_transactions_people",
                ["model.agentsync.transactions", "model.agentsync.people"],
            ),
            _test("singular_without_parents", []),
        ]
    )
    return {"nodes": nodes, "sources": sources}


def test_tests_over_unbuilt_models_are_skipped_naming_the_model_and_why() -> None:
    # a SkySlope-only install: skyslope raw + marts exist (users raw not loaded, mart built
    # empty), nothing of FUB, the unified transactions mart not built yet
    relations = {
        ("raw_skyslope", "sales"),
        ("marts", "skyslope_sales"),
        ("marts", "skyslope_users"),
    }
    skipped = unbuilt_tests(_manifest(), relations)
    assert {k: v.reason for k, v in skipped.items()} == {
        "unique_key_people_user_id__person_id": (
            "model people not built: no agent has loaded fub yet"
        ),
        "not_null_stg_fub__people_id": (
            "model stg_fub__people not built: no agent has loaded fub yet"
        ),
        "relationships_transactions_people": (
            "model transactions not built: no agent has loaded fub yet"
        ),
    }
    assert skipped["unique_key_people_user_id__person_id"].name == (
        "dbt test.agentsync.unique_key_people_user_id__person_id"
    )
    assert skipped["unique_key_people_user_id__person_id"].line.endswith(
        ": skipped: model people not built: no agent has loaded fub yet"
    )


def test_nothing_is_skipped_once_every_model_is_built() -> None:
    built = {
        ("raw_fub", "people"),
        ("raw_skyslope", "sales"),
        ("staging", "stg_fub__people"),
        ("marts", "people"),
        ("marts", "skyslope_sales"),
        ("marts", "skyslope_users"),
        ("marts", "transactions"),
    }
    assert unbuilt_tests(_manifest(), built) == {}
    # raw loaded but a mart missing (a build that never ran): still skipped, saying so
    skipped = unbuilt_tests(_manifest(), built - {("marts", "transactions")})
    assert skipped["relationships_transactions_people"].reason == (
        "model transactions not built: not built yet (run `agentsync rebuild` or a sync)"
    )
    # a source some of whose raw tables exist: the missing one is named
    skipped = unbuilt_tests(_manifest(), built - {("marts", "skyslope_users")})
    assert skipped["unique_skyslope_users_id"].reason == (
        "model skyslope_users not built: raw skyslope.users not loaded"
    )


@pytest.mark.slow
def test_the_real_dbt_tests_on_an_install_with_nothing_built_are_skipped_not_errors(
    tiny: TinySource, tmp_path: Path
) -> None:
    root = tmp_path / "expectations"
    build_context([SPEC], root=root)
    tiny.sync(1, widgets(range(1, 4)), reported_total=3)
    tiny.build_mart()
    result = run_quality_gate(None, entities=[SPEC], context_root=root, dbt_args=("test",))
    assert result.success, result.failures
    reasons = {t.name: t.reason for t in result.skipped}
    assert reasons, "no dbt test was skipped on an empty install"
    fub = [n for n in reasons if "unique_key_people_user_id" in n]
    assert fub and reasons[fub[0]] == "model people not built: no agent has loaded fub yet"
    assert all("not built" in r for r in reasons.values())
