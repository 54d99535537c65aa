"""Fault injection, latency and arrival jitter, all seeded so a run can be replayed.

Rate limits live in :mod:`blip_emulator.limits`.
"""

from __future__ import annotations

import enum
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig

#: Statuses an injected server error is drawn from.
ERROR_STATUSES = (500, 502, 503, 504)


class Fault(enum.Enum):
    """What the fault injector decided for one request."""

    NONE = "none"
    ERROR = "error"
    DROP = "drop"
    DROP_AFTER = "drop_after"
    SLOW = "slow"


class FaultInjector:
    """Decide faults, latency and arrival holds for each request; not thread-safe (the engine locks).

    :param config: Initial settings.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.reset(config)

    def reset(self, config: EmulatorConfig) -> None:
        """Reseed every random source."""
        self._faults = random.Random(f"{config.seed}:faults")
        # Separate streams, so changing either jitter does not change which requests fail.
        self._jitter = random.Random(f"{config.seed}:latency")
        self._arrival = random.Random(f"{config.seed}:arrival")

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

    def arrival_hold(self, config: EmulatorConfig) -> float:
        """Return how long to hold a request before it arrives: uniform in ``[0, arrival_jitter]``."""
        if config.arrival_jitter <= 0:
            return 0.0
        return self._arrival.uniform(0.0, config.arrival_jitter)
