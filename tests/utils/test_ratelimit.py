"""The client-side rate limiter, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_blip.utils.ratelimit import RateLimiter, shared_limiter


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_paces_to_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(50):
        limiter.acquire()
        starts.append(clock.now)
    gaps = [round(b - a, 9) for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps == [0.1] * 49
    # 50 acquisitions at 10/s take 4.9 s: never faster than the rate
    assert starts[-1] - starts[0] == pytest.approx(4.9)


def test_burst_then_pacing():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=5, clock=clock, sleep=clock.sleep)
    waits = [limiter.reserve() for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.1)
    assert waits[6] == pytest.approx(0.2)


def test_idle_time_is_not_banked():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 60  # a long pause must not allow a burst of 600 afterwards
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.1)


def test_zero_rate_means_no_limit():
    limiter = RateLimiter(0)
    assert all(limiter.reserve() == 0.0 for _ in range(1000))


def test_threads_get_distinct_slots():
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(50):
            w = limiter.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 reservations at the same instant: slots 0, 0.01, ... 1.99, each handed out once
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.01, 6) for i in range(200)]


def test_shared_registry_follows_rate_changes_and_checks_channel():
    a = shared_limiter("scope-x", "messages", 50)
    assert shared_limiter("scope-x", "messages", 50) is a
    assert shared_limiter("scope-x", "messages", 3).rate == 3
    with pytest.raises(ValueError, match="unknown Blip channel"):
        shared_limiter("scope-x", "sms", 1)
