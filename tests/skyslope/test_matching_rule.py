"""The deal matching rule on near misses: the dbt unit tests of the deal models, run by pytest.

The sandbox's shared deals are exact copies across systems (no decoys), so a matcher on address
and ZIP alone would pass the sandbox tests. The dbt unit tests in
``dbt_project/models/intermediate/deals/_deals__models.yml`` feed ``int_deals__matches`` decoys:
same address but the other side, close dates far apart, another unit, another ZIP, another
agent, the other kind; only the true pairs may come out.
"""

from __future__ import annotations

from agentsync.transform import run_dbt

UNIT_TEST = "unit_test.agentsync.int_deals__matches.int_deals__matches_rejects_near_misses"
SELECT = ["--select", "int_deals__matches,test_type:unit"]


def test_matching_rule_rejects_near_misses(agentsync_env):
    result = run_dbt(["test", *SELECT], raise_on_failure=False)
    assert result.success, result.failures
    unit_tests = {r["node"]: r["status"] for r in result.results if r["node"].startswith("unit_")}
    assert unit_tests == {UNIT_TEST: "pass"}


def test_the_unit_test_catches_a_looser_rule(agentsync_env):
    # a close-date tolerance wide enough to pair the decoy 200 days apart must fail the unit test
    loose = run_dbt(
        ["test", *SELECT, "--vars", "{deal_match_close_days: 365}"], raise_on_failure=False
    )
    assert not loose.success
    assert [r["status"] for r in loose.results if r["node"] == UNIT_TEST] == ["fail"]
