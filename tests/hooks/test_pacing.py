"""The hook's pacing over real HTTP: a 429 pauses the channel, status reads take their share."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_blip.exceptions import BlipRateLimitError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils.ratelimit import STATUS_READS
from tests.conftest import TEST_KEY, connection_json

#: A request in flight when a pause starts (it left before) reaches loopback well within this.
IN_FLIGHT_GRACE = 0.25


def pauses_of(limiter, monkeypatch) -> list[tuple[float, float, bool]]:
    """Record every ``pause`` of ``limiter`` as (wall-clock start, end, started a pause)."""
    calls: list[tuple[float, float, bool]] = []
    original = limiter.pause

    def pause(seconds: float) -> bool:
        started = original(seconds)
        now = time.time()
        calls.append((now, now + seconds, started))
        return started

    monkeypatch.setattr(limiter, "pause", pause)
    return calls


def merged(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of pause windows, as the channel lived it (a pause ends at the latest end)."""
    out: list[list[float]] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def test_a_429_pauses_every_thread_of_the_channel(blip_conn, monkeypatch, caplog, capfd):
    caplog.set_level(logging.WARNING)
    blip_conn.configure(rate_limits={"commands": 8})
    hook = BlipHook(concurrency=12, max_retries=10)
    calls = pauses_of(hook.limiter("commands"), monkeypatch)

    def two_pings(_: int) -> list[str]:
        return [hook.send_command("get", "/ping")["status"] for _ in range(2)]

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(two_pings, range(12))) == [["success", "success"]] * 12

    records = blip_conn.records("commands")
    assert [r.outcome for r in records].count("ok") == 24
    assert any(r.outcome == "rate_limited" for r in records), "the server's limit was reached"
    windows = merged([(start, end) for start, end, _ in calls])
    assert windows
    during = [r for r in records for start, end in windows if start + IN_FLIGHT_GRACE < r.received_at < end]
    assert during == [], "no thread sent while its channel was paused"
    # One warning per pause, however many threads got a 429 in it.
    out, err = capfd.readouterr()
    logged = (caplog.text + out + err).count("pausing the commands channel")
    assert logged == sum(started for *_, started in calls)
    assert logged < len([r for r in records if r.outcome == "rate_limited"])


def test_a_429_pause_lasts_the_servers_retry_after(blip_conn, monkeypatch):
    blip_conn.configure(rate_limits={"commands": 1})
    hook = BlipHook()
    sleeps: list[float] = []
    hook._sleep = sleeps.append
    calls = pauses_of(hook.limiter("commands"), monkeypatch)
    hook.send_command("get", "/ping")
    hook.send_command("get", "/ping")  # refused once (Retry-After: 1), then let through
    ok, refused, retried = blip_conn.records("commands")
    assert [ok.outcome, refused.outcome, retried.outcome] == ["ok", "rate_limited", "ok"]
    ((start, end, started),) = calls
    assert (started, end - start) == (True, pytest.approx(1.0))
    assert retried.received_at - refused.received_at >= 1.0, "the retry waited for the pause"
    assert sleeps == [], "no sleep of its own: the retry waited in the channel's limiter"


def test_a_429_without_retry_after_backs_off_exponentially_within_max_retries(status_server, monkeypatch):
    server = status_server(429, hold=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT",
        json.dumps({"conn_type": "blip", "host": server.url, "password": TEST_KEY}),
    )
    hook = BlipHook(max_retries=3, retry_base_delay=0.05)
    calls = pauses_of(hook.limiter("commands"), monkeypatch)
    with pytest.raises(BlipRateLimitError) as info:
        hook.send_command("get", "/ping")
    assert server.requests == 4
    assert [round(end - start, 6) for start, end, _ in calls] == [0.05, 0.1, 0.2, 0.4]
    assert "gave up after 4 attempts" in "".join(info.value.__notes__)


class TestStatusReads:
    def counting(self, limiter, monkeypatch) -> list[int]:
        count = [0]
        original = limiter.acquire

        def acquire() -> float:
            count[0] += 1
            return original()

        monkeypatch.setattr(limiter, "acquire", acquire)
        return count

    def test_share_of_the_commands_rate(self, emulator, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_BLIP_DEFAULT",
            connection_json(emulator, commands_per_second=40, status_read_share=0.25, rate_margin=0.9),
        )
        hook = BlipHook()
        reads = hook.limiter(STATUS_READS)
        assert reads.rate == 10.0
        assert reads.margin == 0.9
        assert reads is BlipHook().limiter(STATUS_READS), "one budget for the whole process"

    def test_statuses_take_both_budgets_a_status_only_commands(self, blip_conn, monkeypatch):
        hook = BlipHook(concurrency=4)
        reads = self.counting(hook.limiter(STATUS_READS), monkeypatch)
        commands = self.counting(hook.limiter("commands"), monkeypatch)
        statuses = hook.get_message_statuses([f"m-{i}" for i in range(5)])
        assert set(statuses) == {f"m-{i}" for i in range(5)}
        assert (reads[0], commands[0]) == (5, 5)
        hook.get_message_status("m-0")
        assert (reads[0], commands[0]) == (5, 6)


def test_limits_off_stay_on_the_free_path(blip_conn):
    hook = BlipHook()
    limiter = hook.limiter("messages")
    assert (limiter.rate, limiter.limit) == (0.0, 0)
    barrier = threading.Barrier(4)

    def send(i: int) -> str:
        barrier.wait()
        return hook.send_message(f"55119{i:08d}@wa.gw.msging.net", "text/plain", "hi")

    with ThreadPoolExecutor(4) as pool:
        assert len(set(pool.map(send, range(4)))) == 4
