"""Rate limits, latency and fault injection, all seeded so a run can be replayed.

Blip does not document what happens above its throughput limits (blip-api.md §10, §12.3);
the emulator's choice is HTTP 429 with an integer ``Retry-After`` and no processing.
"""

from __future__ import annotations

import enum
import math
import random
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_blip.emulator.config import EmulatorConfig

#: Statuses an injected server error is drawn from.
ERROR_STATUSES = (500, 502, 503, 504)


class Fault(enum.Enum):
    """What the fault injector decided for one request."""

    NONE = "none"
    ERROR = "error"
    DROP = "drop"
    DROP_AFTER = "drop_after"
    SLOW = "slow"


class TokenBucket:
    """A token bucket holding at most one second of requests.

    :param rate: Tokens added per second.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        # Capacity of one second of rate, but at least one request so slow rates still admit bursts of 1.
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self, now: float) -> int | None:
        """Take a token; return ``None`` if admitted, else the ``Retry-After`` seconds (>= 1)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


class FaultInjector:
    """Decide rate limiting, faults and latency for each request; not thread-safe (the engine locks).

    :param config: Initial settings.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.reset(config)

    def reset(self, config: EmulatorConfig) -> None:
        """Reseed every random source and refill the buckets."""
        self._faults = random.Random(f"{config.seed}:faults")
        # A separate stream, so changing the jitter does not change which requests fail.
        self._jitter = random.Random(f"{config.seed}:latency")
        self.set_rate_limits(config.rate_limits)

    def set_rate_limits(self, limits: dict[str, float] | None) -> None:
        """Replace the buckets (full) for new limits."""
        self._buckets = {channel: TokenBucket(rate) for channel, rate in (limits or {}).items()}

    def retry_after(self, channel: str) -> int | None:
        """Return ``None`` if ``channel`` has capacity now, else seconds to wait."""
        bucket = self._buckets.get(channel)
        return None if bucket is None else bucket.take(time.monotonic())

    def draw(self, channel: str, config: EmulatorConfig) -> Fault:
        """Pick the fault for one request, using one uniform draw over the four rates."""
        if channel not in config.fault_channels:
            return Fault.NONE
        rates = (
            (Fault.ERROR, config.error_rate),
            (Fault.DROP, config.drop_rate),
            (Fault.DROP_AFTER, config.drop_after_rate),
            (Fault.SLOW, config.slow_rate),
        )
        if not any(rate for _, rate in rates):
            return Fault.NONE
        point = self._faults.random()
        for fault, rate in rates:
            if point < rate:
                return fault
            point -= rate
        return Fault.NONE

    def error_status(self) -> int:
        """Pick the HTTP status of an injected server error."""
        return self._faults.choice(ERROR_STATUSES)

    def latency(self, config: EmulatorConfig) -> float:
        """Return the delay before answering: ``latency`` plus uniform jitter."""
        if config.latency_jitter <= 0:
            return config.latency
        return config.latency + self._jitter.uniform(0.0, config.latency_jitter)
