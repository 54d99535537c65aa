"""Client-side throttling per Blip channel, shared by every thread of the process.

Blip documents a throughput per plan (blip-api.md §10: paid plan 50 messages/s,
100 notifications/s, 200 commands/s) but not what happens above it, so the provider keeps
itself under the configured rate instead of relying on 429s.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

CHANNELS = ("messages", "commands", "notifications")

#: Blip's documented paid-plan throughput, requests per second (blip-api.md §10).
PAID_PLAN_RATES: dict[str, float] = {"messages": 50.0, "commands": 200.0, "notifications": 100.0}


class RateLimiter:
    """A thread-safe pacer (GCRA): at most ``rate`` acquisitions per second, ``burst`` at once.

    A caller reserves its slot under the lock and sleeps outside it, so many threads can
    wait at the same time and still leave in rate order.

    :param rate: acquisitions per second; ``0`` or ``None`` means no limit.
    :param burst: how many acquisitions may happen back to back before pacing starts.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._tat = 0.0  # theoretical arrival time of the next slot
        self.burst = max(1, burst)
        self.rate = rate or 0.0

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={self.burst})"

    def reserve(self) -> float:
        """Take the next slot and return how long the caller must wait for it (seconds)."""
        if self.rate <= 0:
            return 0.0
        interval = 1.0 / self.rate
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            wait = tat - (self.burst - 1) * interval - now
            self._tat = tat + interval
        return max(0.0, wait)

    def acquire(self) -> float:
        """Block until a slot is free; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


_registry: dict[tuple[str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(scope: str, channel: str, rate: float | None) -> RateLimiter:
    """Return the process-wide limiter for ``channel`` of one Blip bot.

    Every hook of the same bot (``scope``: base URL plus a fingerprint of the key) in this
    process shares one budget per channel, whatever thread or operator uses it.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown Blip channel {channel!r}; expected one of {CHANNELS}")
    with _registry_lock:
        limiter = _registry.get((scope, channel))
        if limiter is None:
            limiter = _registry[(scope, channel)] = RateLimiter(rate)
        elif limiter.rate != (rate or 0.0):
            limiter.rate = rate or 0.0  # the connection changed: follow it
        return limiter
