"""The FUB dbt models build on a database where raw_fub does not exist yet."""

from __future__ import annotations

from sqlalchemy import text

from agentsync import db
from agentsync.transform import run_dbt

FUB_SELECT = ["--select", "path:models/staging/fub", "path:models/marts/crm", "test_name:fub_*"]


def test_fub_models_build_without_raw_data(agentsync_env) -> None:
    result = run_dbt(["build", "--select", "path:models/staging/fub", "path:models/marts/crm"])
    assert result.success, result.failures
    with db.begin() as conn:
        n = conn.execute(text("select count(*) from marts.people")).scalar()
        cols = {
            r[0]
            for r in conn.execute(
                text(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = 'people'"
                )
            )
        }
    assert n == 0
    assert {"user_id", "person_id", "is_deleted", "deleted_at", "is_trashed"} <= cols
