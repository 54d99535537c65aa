"""Rate limits per channel: three ways of counting "per second", and a lockout after any excess.

Blip publishes its plan limits per second but not how it counts them, nor what it answers above
them. The emulator answers 429 with an integer ``Retry-After`` and does not process the request.
:class:`~blip_emulator.config.RateModel` picks how a second is counted: the
``sliding`` window is the strictest reading (no one-second span, wherever it starts, holds more
than the rate). Notes quoting Blip's docs say that past the limit "the next requests
automatically receive 429 for a period of 2 minutes"; ``lockout_seconds`` models that.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import TYPE_CHECKING, Protocol

from blip_emulator.config import RateModel

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig


class Limiter(Protocol):
    """One channel's counting rule."""

    #: Whether :meth:`admit` is given wall-clock time (``time.time()``) rather than monotonic time.
    wall_clock: bool

    def admit(self, now: float) -> float | None:
        """Count a request arriving at ``now``: ``None`` if admitted, else seconds until one would be."""
        ...


def _window(rate: float) -> tuple[float, int]:
    # floor(rate) requests per second; below 1/s, one request per 1/rate seconds, so that a
    # rate of 0.5 still admits something and never more than it allows.
    if rate >= 1.0:
        return 1.0, math.floor(rate)
    return 1.0 / rate, 1


class SlidingWindow:
    """Admit a request only if fewer than ``floor(rate)`` were admitted in the second before it.

    An exact log of the admitted arrival times, not buckets: a request at ``t`` sees those
    admitted in ``(t - 1, t]``.

    :param rate: Requests per second.
    """

    wall_clock = False

    def __init__(self, rate: float) -> None:
        self.window, self.limit = _window(rate)
        self._admitted: collections.deque[float] = collections.deque()

    def admit(self, now: float) -> float | None:
        """Count a request arriving at ``now`` (monotonic seconds)."""
        admitted, start = self._admitted, now - self.window
        while admitted and admitted[0] <= start:
            admitted.popleft()
        if len(admitted) < self.limit:
            admitted.append(now)
            return None
        return admitted[0] - start


class FixedWindow:
    """Admit ``floor(rate)`` requests per wall-clock second (second ``n`` is ``[n, n + 1)``).

    :param rate: Requests per second.
    """

    wall_clock = True

    def __init__(self, rate: float) -> None:
        self.window, self.limit = _window(rate)
        self._current = -1
        self._count = 0

    def admit(self, now: float) -> float | None:
        """Count a request arriving at ``now`` (``time.time()`` seconds)."""
        index = math.floor(now / self.window)
        if index != self._current:
            self._current, self._count = index, 0
        if self._count < self.limit:
            self._count += 1
            return None
        return (index + 1) * self.window - now


class TokenBucket:
    """A token bucket holding at most one second of requests (at least one), full at start.

    :param rate: Tokens added per second.
    """

    wall_clock = False

    def __init__(self, rate: float) -> None:
        self.rate = rate
        # Capacity of one second of rate, but at least one request so slow rates still admit bursts of 1.
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.updated: float | None = None

    def admit(self, now: float) -> float | None:
        """Take a token at ``now`` (monotonic seconds)."""
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


_MODELS: dict[RateModel, type[SlidingWindow | FixedWindow | TokenBucket]] = {
    RateModel.SLIDING: SlidingWindow,
    RateModel.FIXED: FixedWindow,
    RateModel.TOKEN_BUCKET: TokenBucket,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was answered 429.

    :param retry_after: Whole seconds for ``Retry-After`` (at least 1).
    :param locked_out: The channel was already locked out when the request arrived.
    :param lockout_started: This request went over the limit and started a lockout.
    """

    retry_after: int
    locked_out: bool = False
    lockout_started: bool = False


class RateLimits:
    """Every channel's limiter and lockout; not thread-safe (the engine locks).

    Built afresh (empty windows, no lockout) whenever ``rate_limits``, ``rate_model`` or
    ``lockout_seconds`` change, and on reset.

    :param config: The settings to apply.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        model = _MODELS[config.rate_model]
        self._limiters: dict[str, Limiter] = {
            channel: model(rate) for channel, rate in (config.rate_limits or {}).items()
        }
        self._lockout = config.lockout_seconds
        self._locked_until: dict[str, float] = {}

    def check(self, channel: str, monotonic: float, wall: float) -> Refusal | None:
        """Count a request on ``channel``; return ``None`` if admitted, else the refusal.

        :param channel: ``commands``, ``messages`` or ``notifications``.
        :param monotonic: Arrival time, ``time.monotonic()``.
        :param wall: The same instant as ``time.time()`` (the fixed window counts wall seconds).
        """
        limiter = self._limiters.get(channel)
        if limiter is None:
            return None
        left = self._locked_until.get(channel, 0.0) - monotonic
        if left > 0:
            return Refusal(math.ceil(left), locked_out=True)
        wait = limiter.admit(wall if limiter.wall_clock else monotonic)
        if wait is None:
            return None
        if self._lockout > 0:
            # A request refused during the lockout does not extend it: the lockout starts
            # at the excess and lasts lockout_seconds, whatever the client does meanwhile.
            self._locked_until[channel] = monotonic + self._lockout
            return Refusal(math.ceil(self._lockout), lockout_started=True)
        return Refusal(max(1, math.ceil(wait)))
