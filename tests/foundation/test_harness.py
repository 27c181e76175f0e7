from sqlalchemy import text

from agentsync import db


def test_each_test_gets_its_own_migrated_database(agentsync_env):
    db.ensure_ready()
    with db.begin() as conn:
        name = conn.execute(text("select current_database()")).scalar()
        tables = conn.execute(
            text("select count(*) from information_schema.tables where table_schema = 'ops'")
        ).scalar()
    assert name.startswith("t_")
    assert tables >= 10
