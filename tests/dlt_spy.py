"""Which dlt extracts a test's own pipelines ran (the quiet-day tests: a quiet read runs none)."""

from __future__ import annotations

from typing import Any

import dlt
import pytest

from agentsync.settings import get_settings


def count_extracts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every pipeline under this test's data dir that runs dlt's
    ``extract`` is appended to the returned list (dlt's own extract still runs)."""
    extracts: list[str] = []
    extract = dlt.Pipeline.extract
    ours = str(get_settings().dlt_dir)  # not the pipelines of threads other tests left running

    def counted(self: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
        if str(self.pipelines_dir).startswith(ours):
            extracts.append(self.pipeline_name)
        return extract(self, *args, **kwargs)

    monkeypatch.setattr(dlt.Pipeline, "extract", counted)
    return extracts
