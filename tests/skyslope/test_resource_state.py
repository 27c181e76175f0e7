"""An agent's cursors stay where earlier releases kept them when its source becomes a ``@dlt.source``.

SkySlope's and Qualia's loads used to run a bare resource in the pipeline's default schema, named
after the pipeline (``<source>_user_<id>``); dlt keeps resource state (the cursors) under the
source's schema name. Their ``@dlt.source`` is therefore run under the pipeline's name
(``named_for``). Here the state is written the way the earlier code wrote it (a bare resource, no
schema), then the next daily run must read from that cursor, not start over. The control runs the
source under its own name and starts over: a full read that would land every record again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pytest

import dlt_pipelines.qualia
import dlt_pipelines.skyslope
from dlt_pipelines.qualia import run_orders
from dlt_pipelines.qualia.source import qualia_source
from dlt_pipelines.run import make_pipeline
from dlt_pipelines.skyslope import run_entity
from dlt_pipelines.skyslope.source import skyslope_source

AGENT = 101


def _write_state_the_old_way(source: str, resource: str, values: dict[str, Any]) -> None:
    """A load of a bare resource that sets its state, as the earlier code's loads did."""

    @dlt.resource(name=resource)
    def earlier() -> Iterator[Any]:
        dlt.current.resource_state().update(values)
        yield from ()

    make_pipeline(source, AGENT).run(earlier())


@pytest.mark.parametrize("renamed", [True, False], ids=["named_for", "control"])
def test_qualia_daily_run_continues_from_the_earlier_cursor(
    register_agents, monkeypatch, renamed: bool
) -> None:
    monkeypatch.setenv("AGENTSYNC_QUALIA_LOOKBACK_ORDERS", "2")
    if not renamed:  # the control: the source under its own name ("qualia")
        monkeypatch.setattr(dlt_pipelines.qualia, "named_for", lambda name: qualia_source)
    register_agents(AGENT)
    now = datetime.now(UTC).isoformat()
    _write_state_the_old_way("qualia", "orders", {"last_end": 5, "last_full_at": now})

    cursor = run_orders(AGENT, "daily", None).cursor
    if renamed:
        assert cursor is not None and cursor.startswith("3..") and cursor.endswith(" tail")
    else:
        assert cursor is not None and cursor.startswith("0..") and cursor.endswith(" full")


@pytest.mark.parametrize("renamed", [True, False], ids=["named_for", "control"])
def test_skyslope_daily_run_continues_from_the_earlier_window(
    register_agents, monkeypatch, renamed: bool
) -> None:
    if not renamed:
        monkeypatch.setattr(dlt_pipelines.skyslope, "named_for", lambda name: skyslope_source)
    register_agents(AGENT)
    earliest = int(datetime.now(UTC).timestamp()) - 3600
    now = datetime.now(UTC).isoformat()
    _write_state_the_old_way("skyslope", "sales", {"earliest_date": earliest, "last_full_at": now})

    result = run_entity(AGENT, "daily", None, "sales")
    if renamed:  # a window from the earlier cursor: it cannot count the account
        assert result.reported_total is None and int(result.cursor or 0) >= earliest
    else:  # no cursor found: the whole account is listed and every file fetched
        assert result.reported_total is not None and result.rows == result.reported_total
