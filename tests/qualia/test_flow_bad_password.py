"""A wrong Qualia password inside the real daily-sync flow: one step fails, everything else goes on.

Real sandbox, real sources, dlt, dbt and the Prefect flow (temporary API). Two agents: 101 with
a wrong Qualia password, 103 with good credentials; both have SkySlope.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile

import pytest

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="agentsync-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from flows.prefect_env import configure_prefect_env

configure_prefect_env()

from agentsync import agents  # noqa: E402
from flows.daily_sync import daily_sync  # noqa: E402  (Prefect sets up logging on import)
from tests.skyslope.conftest import rows, truth  # noqa: E402

pytestmark = pytest.mark.slow

BAD, GOOD = 101, 103


class _Records(logging.Handler):
    """Keeps every record that reaches the root logger (caplog's handler does not survive
    Prefect's logging setup when Prefect is first imported during the test)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records(caplog):
    """Every log record of the test, from DEBUG up."""
    caplog.set_level(logging.DEBUG)
    handler = _Records()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


def test_wrong_qualia_password_fails_only_that_step(
    register_agents, sandbox_server, log_records, capfd
):
    register_agents(BAD, GOOD)
    user = agents.get_credentials(BAD, "qualia")["username"]
    wrong = f"qk_wrong_{secrets.token_hex(8)}"
    agents.set_credential(BAD, "qualia", {"username": user, "password": wrong})
    secrets_in_play = [wrong, agents.get_credentials(GOOD, "qualia")["password"]]

    result = daily_sync(user_ids=[BAD, GOOD], sources=["skyslope", "qualia"])

    bad = {o["step"]: o for o in result["agents"][BAD]}
    good = {o["step"]: o for o in result["agents"][GOOD]}
    failed = bad.pop("qualia.orders")
    assert failed["status"] == "failed"
    assert "agent 101" in failed["error"] and "qualia" in failed["error"].lower()
    assert bad and all(o["status"] == "done" for o in bad.values()), bad  # SkySlope went on
    assert {k.split(".")[0] for k in good} == {"skyslope", "qualia"}
    assert all(o["status"] == "done" for o in good.values()), good
    post = {o["step"]: o for o in result["post"]}
    assert post["dbt.build"]["status"] == "done", post["dbt.build"]["error"]
    assert result["failed"] >= 1

    # what the other steps loaded reached the marts
    orders = {
        r[0] for r in rows("select order_id from marts.title_orders where user_id = :u", u=GOOD)
    }
    assert orders == set(truth(sandbox_server, "qualia", GOOD, "orders")["ids"])
    sales = {
        r[0] for r in rows("select sale_guid from marts.skyslope_sales where user_id = :u", u=BAD)
    }
    assert sales == set(truth(sandbox_server, "skyslope", BAD, "sales")["ids"])

    # ops.sync_runs: only the bad agent's Qualia run failed, and it names agent and integration
    runs = rows("select user_id, source, entity, status, error from ops.sync_runs order by run_id")
    assert {(u, s) for u, s, _, st, _ in runs if st != "done"} == {(BAD, "qualia")}
    errors = [e for *_, e in runs if e]
    assert errors and all("agent 101" in e and "qualia" in e.lower() for e in errors), runs
    # the failure is in the run's log, naming agent and step
    assert any(
        "agent 101" in r.getMessage() and "qualia.orders" in r.getMessage()
        for r in log_records
        if r.levelno >= logging.WARNING
    )

    # no password anywhere: result, ops rows, log records, console output
    out, err = capfd.readouterr()
    text = logging.Formatter()  # message plus any traceback
    seen = "\n".join(
        [json.dumps(result, default=str), repr(runs), out, err]
        + [f"{text.format(r)} {r.args!r}" for r in log_records]
    )
    for secret in secrets_in_play:
        assert secret not in seen
