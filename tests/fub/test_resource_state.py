"""FUB's cursors stay where earlier releases kept them now that its streams are a ``@dlt.source``.

The earlier code ran each stream as a bare resource with ``schema=dlt.Schema("fub")``; dlt keeps
resource state under the source's schema name, so :func:`dlt_pipelines.fub.source.fub_source` is
named ``fub``. Here a stream's watermark is written the way the earlier code wrote it, far in the
future: the next daily run asks from there and lands nothing. The control runs the source under
another name: it finds no watermark and reads (and lands) every person again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
import pytest

import dlt_pipelines.fub
from dlt_pipelines.fub import FubRun
from dlt_pipelines.fub.source import fub_source
from dlt_pipelines.run import make_pipeline
from tests.fub.conftest import add_agent

AGENT = 103  # the sandbox's smallest demo agent


@pytest.mark.parametrize("same_name", [True, False], ids=["fub", "control"])
def test_daily_run_continues_from_the_earlier_watermark(
    sandbox_env, sandbox_server, monkeypatch, same_name: bool
) -> None:
    if not same_name:
        monkeypatch.setattr(
            dlt_pipelines.fub, "fub_source", fub_source.with_args(name="fub_elsewhere")
        )
    add_agent(sandbox_server.sandbox, AGENT)

    @dlt.resource(name="people")
    def earlier() -> Iterator[Any]:
        dlt.current.resource_state()["watermark"] = "2100-01-01T00:00:00+00:00"
        yield from ()

    make_pipeline("fub", AGENT).run(earlier(), schema=dlt.Schema("fub"))

    with FubRun(AGENT, "daily") as run:
        result = run.load_stream("people")
    if same_name:
        assert result.rows == 0 and result.cursor == "2100-01-01T00:00:00+00:00"
    else:
        assert result.rows > 0 and result.rows == result.reported_total
