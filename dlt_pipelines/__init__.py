"""dlt sources: one package per vendor API (fub, rezen, skyslope, qualia), loading raw_<source>."""

import os

# dlt sends anonymous usage telemetry from a background thread, and the process waits for it at
# exit. With no route to its endpoint (as here, or behind a locked-down production network) each
# event waits out a DNS lookup: a daily sync of 48 agents (some 500 dlt runs) took up to 11
# minutes longer to exit than to do its work (bench/results.md, "Fleet"). A brokerage's data
# pipeline has no business reporting on its runs anyway. An explicit setting still wins.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
