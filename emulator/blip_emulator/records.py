"""What the emulator saw: one :class:`Record` per envelope, plus counters, optionally mirrored to JSONL."""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
from typing import IO, Any

from blip_emulator.config import CHANNELS

#: Outcomes a record can have.
OUTCOMES = ("ok", "failure", "rate_limited", "server_error", "dropped", "bad_request", "unauthorized")

#: Seconds of the sliding window behind :attr:`ChannelStats.max_in_window`.
ARRIVAL_WINDOW = 1.0


@dataclasses.dataclass(frozen=True)
class Record:
    """One request to a Blip endpoint that carried a parseable JSON envelope.

    :param channel: ``commands``, ``messages`` or ``notifications``.
    :param envelope: The JSON body as received.
    :param status: HTTP status answered, or 0 when the connection was dropped.
    :param received_at: ``time.time()`` at receipt.
    :param outcome: One of ``ok``, ``failure`` (command answered with status failure),
        ``rate_limited``, ``server_error``, ``dropped``, ``bad_request``, ``unauthorized``.
    :param processed: Whether the envelope changed state (true for ``drop_after`` faults,
        false for refused, faulted-before-processing and invalid requests).
    """

    channel: str
    envelope: dict[str, Any]
    status: int
    received_at: float
    outcome: str
    processed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-friendly dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ChannelStats:
    """What one channel saw, counted at arrival (after any ``arrival_jitter`` hold).

    :param requests: Requests that arrived, whatever their answer (as ``stats()["requests"]``).
    :param max_in_window: The most arrivals, admitted and refused, in any one-second sliding
        window (a request at ``t`` shares a window with those in ``(t - 1, t]``) since the last
        reset: what a strict server would compare with the plan's rate.
    :param refused: Requests answered 429 (over the limit or during a lockout).
    :param lockouts: Lockouts started (see ``lockout_seconds``).
    """

    requests: int = 0
    max_in_window: int = 0
    refused: int = 0
    lockouts: int = 0


class _ArrivalWindow:
    """The most arrivals in any :data:`ARRIVAL_WINDOW`: a running maximum over the recent log.

    Only the last second of arrival times is kept, so memory stays bounded at any rate.
    """

    __slots__ = ("count", "maximum", "recent")

    def __init__(self) -> None:
        self.recent: collections.deque[float] = collections.deque()
        self.maximum = 0
        self.count = 0

    def add(self, now: float) -> None:
        recent, start = self.recent, now - ARRIVAL_WINDOW
        while recent and recent[0] <= start:
            recent.popleft()
        recent.append(now)
        self.count += 1
        # The densest window always ends at an arrival, so checking at each one finds it.
        self.maximum = max(self.maximum, len(recent))


class Recorder:
    """Thread-safe store of records and counters.

    :param max_records: Records kept in memory; older ones are dropped first.
    :param record_path: File to append every record to as a JSON line, or ``None``.
    """

    def __init__(self, max_records: int, record_path: str | None) -> None:
        self._lock = threading.Lock()
        self._records: collections.deque[Record] = collections.deque(maxlen=max_records)
        self._file: IO[str] | None = None
        self._path: str | None = None
        self._counters = _Counters()
        self.set_output(max_records, record_path)

    def set_output(self, max_records: int, record_path: str | None) -> None:
        """Apply new ``max_records`` / ``record_path`` settings, keeping existing records."""
        with self._lock:
            if max_records != self._records.maxlen:
                self._records = collections.deque(self._records, maxlen=max_records)
            if record_path != self._path:
                if self._file is not None:
                    self._file.close()
                # Line-buffered so tests and tail -f see each record at once.
                self._file = open(record_path, "a", encoding="utf-8", buffering=1) if record_path else None
                self._path = record_path

    def count_request(self, channel: str, arrived_at: float) -> None:
        """Count a request on a Blip endpoint, whatever happens to it.

        :param channel: The endpoint.
        :param arrived_at: ``time.monotonic()`` when it arrived.
        """
        with self._lock:
            self._counters.arrivals[channel].add(arrived_at)

    def count_response(self, channel: str, status: int, fault: str | None = None) -> None:
        """Count an answer (status 0 = dropped) on ``channel`` and the fault that caused it, if any."""
        with self._lock:
            self._counters.note(channel, status, fault)

    def count_lockout(self, channel: str) -> None:
        """Count a lockout started on ``channel``."""
        with self._lock:
            self._counters.lockouts[channel] += 1

    def add(self, record: Record) -> None:
        """Keep a record and append it to the JSONL file."""
        with self._lock:
            self._records.append(record)
            self._counters.outcomes[record.outcome] += 1
            if self._file is not None:
                self._file.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")

    def records(self, channel: str | None = None) -> list[Record]:
        """Return a snapshot of the records, optionally of one channel (a typo raises ``ValueError``)."""
        if channel is not None and channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; channels are {', '.join(CHANNELS)}")
        with self._lock:
            return [r for r in self._records if channel is None or r.channel == channel]

    def stats(self) -> dict[str, Any]:
        """Return a snapshot of the counters."""
        with self._lock:
            return self._counters.snapshot(len(self._records))

    def channel_stats(self) -> dict[str, ChannelStats]:
        """Return each channel's arrival counters."""
        with self._lock:
            return self._counters.channels()

    def clear(self) -> None:
        """Forget records and counters (the JSONL file is left as it is)."""
        with self._lock:
            self._records.clear()
            self._counters = _Counters()

    def close(self) -> None:
        """Close the JSONL file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file, self._path = None, None


class _Counters:
    """Plain counters behind :meth:`Recorder.stats`."""

    def __init__(self) -> None:
        self.arrivals = {channel: _ArrivalWindow() for channel in CHANNELS}
        self.responses: collections.Counter[int] = collections.Counter()
        self.refused: collections.Counter[str] = collections.Counter()
        self.lockouts: collections.Counter[str] = collections.Counter()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()

    def note(self, channel: str, status: int, fault: str | None) -> None:
        if status:
            self.responses[status] += 1
        if status == 429:
            self.refused[channel] += 1
        if fault:
            self.faults[fault] += 1

    def channels(self) -> dict[str, ChannelStats]:
        return {
            channel: ChannelStats(
                requests=window.count,
                max_in_window=window.maximum,
                refused=self.refused[channel],
                lockouts=self.lockouts[channel],
            )
            for channel, window in self.arrivals.items()
        }

    def snapshot(self, kept: int) -> dict[str, Any]:
        channels = self.channels()
        return {
            "requests": {channel: channels[channel].requests for channel in CHANNELS},
            "total_requests": sum(stats.requests for stats in channels.values()),
            "responses": dict(sorted(self.responses.items())),
            "outcomes": dict(self.outcomes),
            "refused": self.responses[429],
            "dropped": self.faults["drop"] + self.faults["drop_after"],
            "faults": {name: self.faults[name] for name in ("error", "drop", "drop_after", "slow")},
            "records": kept,
            "channels": {channel: dataclasses.asdict(stats) for channel, stats in channels.items()},
        }
