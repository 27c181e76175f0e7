"""Offline replicas of the FUB, reZEN, SkySlope and Qualia APIs (see ``sandbox.core``)."""

from sandbox.core import RunningSandbox, Sandbox, start_in_thread

__all__ = ["RunningSandbox", "Sandbox", "start_in_thread"]
