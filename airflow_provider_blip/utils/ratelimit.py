"""Client-side pacing per Blip channel, shared by every thread of the process.

Blip documents a throughput per plan (paid plan: 50 messages/s, 100 notifications/s, 200
commands/s) but not how it counts "per second". The strictest reading, and the one this
module is built for, is a server that counts arrivals in *any* sliding one-second window and
answers 429 to every request over the plan, possibly for minutes. Two things then matter:

- Requests that leave evenly spaced arrive bunched (network jitter). A pacer at exactly the
  plan's rate puts ``rate + 1`` requests in some one-second windows as the server sees them.
  So each channel allows at most ``floor(rate)`` departures in any window of ``1 / margin``
  seconds (for the paid plan's messages: 50 per 1.053 s), evenly spaced: requests that leave
  within a window that long can never arrive within one second unless the jitter is above
  ``1 / margin - 1`` seconds (53 ms at the default margin of 0.95).
- A 429 concerns the whole channel, not the request that got it: :meth:`RateLimiter.pause`
  stops every thread of the process on that channel, then the pace resumes at half and
  climbs back to full over :data:`RECOVERY_SECONDS`.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import TYPE_CHECKING

from airflow_provider_blip.exceptions import BlipConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

CHANNELS = ("messages", "commands", "notifications")

#: The budget of status reads (the delivery sensor and its trigger), a share of ``commands``.
STATUS_READS = "status_reads"

#: Blip's documented paid-plan throughput, requests per second.
PAID_PLAN_RATES: dict[str, float] = {"messages": 50.0, "commands": 200.0, "notifications": 100.0}

#: The share of the plan a channel paces itself at (connection extra ``rate_margin``).
DEFAULT_MARGIN = 0.95
MIN_MARGIN = 0.5
MAX_MARGIN = 1.0

#: The pace right after a pause, as a fraction of the full pace.
RESUME_PACE = 0.5
#: Seconds after a pause ends for the pace to climb back (linearly) to full.
RECOVERY_SECONDS = 10.0


class RateLimiter:
    """A thread-safe pacer that never lets more than ``floor(rate)`` go in any ``1/margin`` s.

    Callers queue in arrival order; only the first one waits on the clock, the others wait
    for their turn, so many threads never wake at once. A caller's departure is checked and
    recorded under the lock at the moment it is allowed to go, after its sleep: a thread
    that wakes late cannot go with the next one's slot as well.

    :param rate: requests per second of the plan; ``0`` or ``None`` means no limit (a
        :meth:`pause` still holds every caller).
    :param margin: the fraction of ``rate`` to pace at, between 0.5 and 1.0.
    :param recovery: seconds after a pause for the pace to return from half to full.
    :param clock: monotonic seconds (tests pass a fake one).
    :param sleep: how to wait (tests pass one that moves the fake clock).
    :param on_departure: called with each departure time (under the lock, except when
        there is neither a limit nor a pause); for tests and metrics.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        margin: float = DEFAULT_MARGIN,
        recovery: float = RECOVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_departure: Callable[[float], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._on_departure = on_departure
        self._recovery = max(0.0, recovery)
        # Callers waiting for their turn, oldest first: each holds a locked lock that the
        # caller before it releases when it has left.
        self._queue: collections.deque[threading.Lock] = collections.deque()
        self._busy = False  # a caller is at the head of the queue
        self._next = -math.inf  # the scheduled time of the next departure at the current pace
        self._pause_until = -math.inf
        self._rate = 0.0
        self._margin = DEFAULT_MARGIN
        self._departures: collections.deque[float] = collections.deque(maxlen=1)
        self._configure(rate or 0.0, margin)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self._rate}, margin={self._margin})"

    # -- settings --------------------------------------------------------------------------

    def _configure(self, rate: float, margin: float) -> None:
        if not MIN_MARGIN <= margin <= MAX_MARGIN:
            raise BlipConfigError(f"margin must be between {MIN_MARGIN} and {MAX_MARGIN}, got {margin}")
        if rate < 0:
            raise BlipConfigError(f"rate must not be negative, got {rate}")
        self._rate, self._margin = rate, margin
        if rate <= 0:
            self.limit, self.window, self.spacing = 0, 0.0, 0.0
        else:
            # Below one per second, one request per 1 / (rate * margin) seconds.
            self.limit = max(1, math.floor(rate))
            self.window = (1.0 if rate >= 1 else 1.0 / rate) / margin
            self.spacing = self.window / self.limit
        self._departures = collections.deque(self._departures, maxlen=max(1, self.limit))

    @property
    def rate(self) -> float:
        """The plan's rate this limiter enforces (``0``: no limit)."""
        return self._rate

    @rate.setter
    def rate(self, value: float | None) -> None:
        with self._lock:
            self._configure(value or 0.0, self._margin)

    @property
    def margin(self) -> float:
        """The fraction of :attr:`rate` the channel is paced at."""
        return self._margin

    @margin.setter
    def margin(self, value: float) -> None:
        with self._lock:
            self._configure(self._rate, value)

    @property
    def paused_until(self) -> float | None:
        """The clock time the current pause ends at, or ``None`` when not paused."""
        until = self._pause_until
        return until if until > self._clock() else None

    def pace(self) -> float:
        """Return the current pace as a fraction of the full one: 0.5 after a pause, up to 1."""
        return self._pace(self._clock())

    def _pace(self, now: float) -> float:
        since = now - self._pause_until
        if since >= self._recovery:
            return 1.0
        if since < 0:
            return RESUME_PACE
        return RESUME_PACE + (1.0 - RESUME_PACE) * since / self._recovery

    # -- pausing ------------------------------------------------------------------------------

    def pause(self, seconds: float) -> bool:
        """Hold every caller of this channel for ``seconds`` from now (a 429 came back).

        A pause never shortens one already running: it ends at the later of the two.

        :return: whether this call started a pause (the channel was not paused), so that
            the many 429s of one burst are logged once.
        """
        with self._lock:
            now = self._clock()
            started = now >= self._pause_until
            until = now + max(0.0, seconds)
            if until > self._pause_until:
                self._pause_until = until
                self._next = max(self._next, until)  # the first one after it goes at its end
            return started and until > now

    # -- acquiring -----------------------------------------------------------------------------

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds it waited."""
        if self.limit == 0:
            now = self._clock()
            if self._pause_until <= now:  # no limit and no pause: the cost of one clock read
                if self._on_departure is not None:
                    self._on_departure(now)
                return 0.0
        with self._lock:
            start = self._clock()
            turn = None
            if self._busy:
                turn = threading.Lock()
                turn.acquire()
                self._queue.append(turn)
            else:
                self._busy = True
        if turn is not None:
            try:
                turn.acquire()  # released by the caller before this one, when it has left
            except BaseException:  # e.g. Airflow's task timeout, raised by a signal handler
                self._abandon(turn)
                raise
        try:
            return self._depart() - start
        finally:
            with self._lock:
                if self._queue:
                    self._queue.popleft().release()  # the head's role passes on
                else:
                    self._busy = False

    def _abandon(self, turn: threading.Lock) -> None:
        # A caller interrupted while queued must not leave the ones behind it waiting.
        with self._lock:
            if turn in self._queue:
                self._queue.remove(turn)
            elif self._queue:
                self._queue.popleft().release()  # its turn had come: pass it on
            else:
                self._busy = False

    def _depart(self) -> float:
        # Only the head of the queue gets here, one thread at a time.
        while True:
            with self._lock:
                now = self._clock()
                ready = self._ready_at()
                if ready <= now:
                    self._record(now)
                    return now
            self._sleep(ready - now)

    def _ready_at(self) -> float:
        ready = max(self._next, self._pause_until)
        if self.limit and len(self._departures) >= self.limit:
            # The limit-th departure back must have left the window before this one goes.
            ready = max(ready, self._departures[0] + self.window)
        return ready

    def _record(self, now: float) -> None:
        if self.limit:
            self._departures.append(now)
            spacing = self.spacing / self._pace(now)
            # A caller a little late (less than one slot) keeps the schedule, so sleep
            # overshoot does not slow the channel down; one later than that (or the first
            # after an idle time) starts it again from now, so idle time is never banked.
            base = self._next if now - self._next < spacing else now
            self._next = base + spacing
        if self._on_departure is not None:
            self._on_departure(now)


_registry: dict[tuple[str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(
    scope: str, channel: str, rate: float | None, *, margin: float = DEFAULT_MARGIN
) -> RateLimiter:
    """Return the process-wide limiter for ``channel`` of one Blip bot.

    Every hook of the same bot (``scope``: base URL plus a fingerprint of the key) in this
    process shares one budget per channel, whatever thread or operator uses it.

    :param channel: one of :data:`CHANNELS`, or :data:`STATUS_READS`.
    """
    if channel not in (*CHANNELS, STATUS_READS):
        raise BlipConfigError(
            f"unknown Blip channel {channel!r}; expected one of {(*CHANNELS, STATUS_READS)}"
        )
    with _registry_lock:
        limiter = _registry.get((scope, channel))
        if limiter is None:
            limiter = _registry[(scope, channel)] = RateLimiter(rate, margin=margin)
        else:
            # The connection changed: follow it.
            if limiter.rate != (rate or 0.0):
                limiter.rate = rate
            if limiter.margin != margin:
                limiter.margin = margin
        return limiter
