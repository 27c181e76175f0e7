"""dlt's anonymous telemetry is off wherever agentsync runs pipelines.

dlt posts an event per pipeline step from a background thread and the process waits for those
at exit; with no route to the endpoint each waits out a DNS lookup, and the fleet benchmark's
daily sync of 48 agents took up to 11 minutes longer to exit than to do its work. Checked in a
fresh interpreter, as dlt resolves its runtime configuration there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
if sys.argv[1] == "agentsync":
    import dlt_pipelines  # noqa: F401  (what every agentsync path that runs dlt imports)
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
print(resolve_configuration(RuntimeConfiguration()).dlthub_telemetry)
"""


def _telemetry(mode: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTIME__")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_agentsync_turns_dlt_telemetry_off() -> None:
    assert _telemetry("agentsync") == "False"


def test_control_dlt_alone_has_it_on() -> None:
    assert _telemetry("dlt") == "True"
