"""What the delivery-wait tests share: a fake clock, the reads the emulator saw, a trigger's event."""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from airflow_provider_blip.triggers import blip as wait_module


class FakeTime:
    """The trigger's clock and sleep: sleeping moves the clock on at once and is remembered."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still give the loop its turn

    def install(self, monkeypatch) -> FakeTime:
        monkeypatch.setattr(wait_module, "clock", self.clock)
        monkeypatch.setattr(wait_module, "sleep", self.sleep)
        return self


def read_counts(emulator, since: int = 0) -> Counter[str]:
    """Count the status reads (``get /notifications?id=``) the emulator answered, per message id."""
    counts: Counter[str] = Counter()
    for record in emulator.records("commands")[since:]:
        uri = urlsplit(record.envelope["uri"])
        if record.envelope["method"] == "get" and uri.path == "/notifications":
            counts[parse_qs(uri.query)["id"][0]] += 1
    return counts


def first_event(trigger) -> dict:
    """Run a trigger to its first event, as the triggerer would, and return the payload."""

    async def run() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(run())
