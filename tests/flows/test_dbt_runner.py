"""Inside a Prefect flow run, the flows' dbt build goes through ``prefect_dbt.PrefectDbtRunner``.

``PrefectDbtRunner.invoke`` is wrapped by a spy that calls the real method (nothing replaced):
the build runs for real against the test database, and the spy records that it was the runner
used and what it was given.
"""

from __future__ import annotations

import pytest
from prefect import flow
from sqlalchemy import text

from agentsync import db

pytestmark = pytest.mark.slow  # a real dbt build (~30 s on 2 cores)


def test_flow_dbt_build_runs_through_prefect_dbt_runner(agentsync_env, prefect_api, monkeypatch):
    from prefect_dbt import PrefectDbtRunner

    from flows.post import dbt_build

    calls: list[list[str]] = []
    real_invoke = PrefectDbtRunner.invoke

    def spy(self, args, **kwargs):
        calls.append(list(args))
        return real_invoke(self, args, **kwargs)

    monkeypatch.setattr(PrefectDbtRunner, "invoke", spy)

    @flow(name="dbt-build-under-test")
    def build_qualia():
        return dbt_build(["qualia"])

    outcome = build_qualia()
    assert calls == [["build", "--select", "@staging.qualia", "--indirect-selection", "cautious"]]
    assert (outcome.key, outcome.status) == ("dbt.build", "done"), outcome.error
    # The build did build: the Qualia staging model and its mart exist in the database.
    with db.begin() as conn:
        built = {
            r[0]
            for r in conn.execute(
                text(
                    "select table_schema || '.' || table_name from information_schema.tables "
                    "where table_name in ('stg_qualia__orders', 'title_orders')"
                )
            )
        }
    assert any(b.endswith(".stg_qualia__orders") for b in built), built
    assert "marts.title_orders" in built, built
    assert outcome.rows and outcome.rows >= 2
