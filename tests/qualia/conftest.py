"""Qualia tests reuse the SkySlope fixtures (demo agents registered from the sandbox)."""

from tests.skyslope.conftest import register_agents  # noqa: F401
