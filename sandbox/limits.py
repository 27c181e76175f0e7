"""Request limits of the replicas whose vendors publish no sliding window: SkySlope, reZEN, Qualia.

FUB's limits are documented (fub.md §4, OFFICIAL) and modelled by its own limiter
(:class:`sandbox.fub_auth.RateLimiter`), on in every profile. The others publish less
(:data:`sandbox.world.VENDOR_LIMITS` says what each limit rests on), so their replicas enforce a
limit only in a profile with ``vendor_limits`` (the fleet): a fixed window per credential, in real
time (clients wait in real time), and over it the vendor's 429 with ``Retry-After`` (the seconds
to the window's end). Served and refused requests are counted per account for benchmarks
(``GET /_sandbox/limits``), with when each account's first and last served request came, so a
benchmark can tell how much of an account's budget its run used.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from sandbox.world import VENDOR_LIMITS, World

TIMES_KEPT = 20_000  # served requests' times kept per account (for benchmarks)


class WindowLimiter:
    """``limit`` requests per fixed ``window`` seconds per account; switchable off."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.enabled = True
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[int, tuple[float, int]] = {}  # account -> (window start, used)
        self.allowed: dict[int, int] = {}
        self.refused: dict[int, int] = {}
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.times: dict[int, deque[float]] = {}  # served requests' times, the latest TIMES_KEPT

    def hit(self, account: int) -> tuple[bool, int, float]:
        """Count one request: ``(allowed, remaining in the window, seconds to its end)``."""
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(account, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            allowed = not self.enabled or used < self.limit
            if allowed:
                used += 1
                self.allowed[account] = self.allowed.get(account, 0) + 1
                self.first.setdefault(account, now)
                self.last[account] = now
                self.times.setdefault(account, deque(maxlen=TIMES_KEPT)).append(now)
            else:
                self.refused[account] = self.refused.get(account, 0) + 1
            self._windows[account] = (start, used)
        return allowed, max(0, self.limit - used), max(0.0, start + self.window - now)

    def peek(self, account: int) -> tuple[int, float]:
        """``(remaining in the account's window, seconds to its end)`` without counting."""
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(account, (now, 0))
        if now - start >= self.window:
            return self.limit, self.window
        return max(0, self.limit - used), max(0.0, start + self.window - now)

    @staticmethod
    def retry_after(seconds_left: float) -> str:
        """``Retry-After`` for a refusal: whole seconds to the window's end, at least 1."""
        return str(max(1, math.ceil(seconds_left)))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self.allowed.clear()
            self.refused.clear()
            self.first.clear()
            self.last.clear()
            self.times.clear()

    def report(self, times: bool = False) -> dict[str, object]:
        """Served and refused per account since the last reset, each account's span (seconds
        from its first to its last served request) and, with ``times``, when each served
        request came (seconds on one clock; the latest ``TIMES_KEPT`` per account)."""
        with self._lock:
            out: dict[str, object] = {
                "enabled": self.enabled,
                "limit": self.limit,
                "window": self.window,
                "allowed": {str(a): n for a, n in self.allowed.items()},
                "refused": {str(a): n for a, n in self.refused.items()},
                "span": {str(a): self.last[a] - self.first[a] for a in self.first},
            }
            if times:
                out["times"] = {str(a): list(t) for a, t in self.times.items()}
            return out


def vendor_limiter(api: str, world: World) -> WindowLimiter | None:
    """The limiter ``api``'s replica enforces in this world (None: the profile has none)."""
    if not world.profile.vendor_limits:
        return None
    limit, window, _ = VENDOR_LIMITS[api]
    return WindowLimiter(limit, window)
