"""The client-side pacer, on a fake clock: its own departure log is the evidence."""

from __future__ import annotations

import bisect
import random
import threading

import pytest

from airflow_provider_blip.utils.ratelimit import STATUS_READS, RateLimiter, shared_limiter

EPS = 1e-9


class FakeClock:
    """A clock that only moves when someone sleeps; ``on_sleep`` may act at a given time."""

    def __init__(self, *, overshoot=None, on_sleep=None):
        self.now = 100.0
        self.overshoot = overshoot  # () -> extra seconds: a thread that wakes late
        self.on_sleep = on_sleep
        self.sleeps = 0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.now)
        self.now += seconds + (self.overshoot() if self.overshoot else 0.0)


def limiter_with_log(rate, clock, **kwargs):
    departures: list[float] = []
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep, on_departure=departures.append, **kwargs)
    return limiter, departures


def run_threads(limiter, threads, each):
    def worker():
        for _ in range(each):
            limiter.acquire()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def most_in_window(times, width, *, closed):
    """The most times in any window of ``width`` seconds: [t, t + width] or [t, t + width)."""
    times = sorted(times)
    find = bisect.bisect_right if closed else bisect.bisect_left
    return max(find(times, t + width) - i for i, t in enumerate(times))


def test_many_threads_never_exceed_floor_rate_in_any_window():
    clock = FakeClock()
    limiter, departures = limiter_with_log(50, clock)
    run_threads(limiter, threads=16, each=40)
    assert len(departures) == 640
    assert departures == sorted(departures), "recorded under the lock, in order"
    assert (limiter.limit, limiter.window) == (50, pytest.approx(1 / 0.95))
    assert most_in_window(departures, limiter.window, closed=False) == 50
    # even spacing: every gap is window / limit, from the very first one (no start-up burst)
    gaps = [b - a for a, b in zip(departures, departures[1:], strict=False)]
    assert min(gaps) == pytest.approx(limiter.spacing)
    assert max(gaps) == pytest.approx(limiter.spacing)


def test_late_waking_threads_cannot_bunch():
    # Every sleep overshoots by up to 0.9 of a slot (the schedule keeps going, the window
    # must hold it back when a late departure is followed by timely ones).
    rng = random.Random(7)
    clock = FakeClock()
    limiter, departures = limiter_with_log(50, clock)
    clock.overshoot = lambda: rng.uniform(0, 0.9 * limiter.spacing)
    run_threads(limiter, threads=16, each=40)
    assert len(departures) == 640
    assert most_in_window(departures, limiter.window - EPS, closed=True) <= 50


def test_with_jitter_a_sliding_second_at_the_server_stays_within_the_plan():
    # Requests that left paced arrive up to 50 ms late, at random; a server counting any
    # closed one-second window of arrivals never sees more than the plan's 200.
    rng = random.Random(3)
    clock = FakeClock()
    limiter, departures = limiter_with_log(200, clock)
    clock.overshoot = lambda: rng.uniform(0, 0.002)
    run_threads(limiter, threads=32, each=50)
    arrivals = [t + rng.uniform(0, 0.05) for t in departures]
    assert most_in_window(arrivals, 1.0, closed=True) <= 200
    # the control: the same departures at margin 1.0 and the same jitter do go over
    clock = FakeClock()
    plain, plain_departures = limiter_with_log(200, clock, margin=1.0)
    run_threads(plain, threads=32, each=50)
    plain_arrivals = [t + rng.uniform(0, 0.05) for t in plain_departures]
    assert most_in_window(plain_arrivals, 1.0, closed=True) > 200


def test_first_departures_are_spaced_not_a_burst():
    clock = FakeClock()
    limiter, departures = limiter_with_log(10, clock, margin=1.0)
    for _ in range(5):
        limiter.acquire()
    assert [round(t - departures[0], 9) for t in departures] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_idle_time_is_not_banked():
    clock = FakeClock()
    limiter, departures = limiter_with_log(10, clock, margin=1.0)
    limiter.acquire()
    clock.now += 60  # a long idle time must not allow a burst afterwards
    limiter.acquire()
    limiter.acquire()
    assert departures[2] - departures[1] == pytest.approx(0.1)


def test_rate_below_one_per_second():
    clock = FakeClock()
    limiter, departures = limiter_with_log(0.5, clock, margin=1.0)
    for _ in range(3):
        limiter.acquire()
    assert [round(t - departures[0], 9) for t in departures] == [0.0, 2.0, 4.0]


def test_zero_rate_means_no_limit_and_no_sleep():
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire() == 0.0 for _ in range(1000))
    assert clock.sleeps == 0


@pytest.mark.parametrize("margin", [0.49, 1.01, 0])
def test_margin_is_validated(margin):
    with pytest.raises(ValueError, match="margin must be between 0.5 and 1.0"):
        RateLimiter(10, margin=margin)


def test_a_pause_holds_every_thread_of_the_channel():
    clock = FakeClock()
    limiter, departures = limiter_with_log(50, clock)
    assert limiter.pause(5.0) is True
    run_threads(limiter, threads=8, each=5)
    assert len(departures) == 40
    assert min(departures) == pytest.approx(105.0)


def test_a_pause_during_a_run_stops_everyone_then_the_pace_recovers():
    paused: list[float] = []
    clock = FakeClock()
    limiter, departures = limiter_with_log(10, clock, margin=1.0, recovery=10.0)

    def pause_once(now):
        # A 429 comes back while the head of the queue waits for its slot.
        if now >= 103.0 and not paused:
            assert limiter.pause(5.0) is True
            paused.append(now)

    clock.on_sleep = pause_once
    run_threads(limiter, threads=8, each=40)
    (start,) = paused
    end = start + 5.0
    assert len(departures) == 320
    assert not [t for t in departures if start < t < end - EPS], "nobody left while paused"
    after = [t for t in departures if t >= end - EPS]
    assert after[0] == pytest.approx(end), "the one that slept through the pause's start re-checked"
    gaps = [b - a for a, b in zip(after, after[1:], strict=False)]
    assert gaps[0] == pytest.approx(0.2), "half pace right after the pause"
    assert all(b <= a + EPS for a, b in zip(gaps, gaps[1:], strict=False)), "the pace only climbs"
    recovered = [b - a for a, b in zip(after, after[1:], strict=False) if a >= end + 10.0]
    assert recovered
    assert recovered == [pytest.approx(0.1)] * len(recovered), "full pace after the recovery time"


def test_pause_never_shortens_and_reports_only_its_start():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    assert limiter.paused_until is None
    assert limiter.pause(5.0) is True
    assert limiter.pause(1.0) is False, "the channel was already paused: logged once"
    assert limiter.paused_until == pytest.approx(105.0)
    assert limiter.pause(8.0) is False
    assert limiter.paused_until == pytest.approx(108.0), "a longer Retry-After extends it"
    clock.now = 108.0
    assert limiter.paused_until is None
    assert limiter.pace() == pytest.approx(0.5)
    clock.now = 113.0
    assert limiter.pace() == pytest.approx(0.75)
    assert limiter.pause(1.0) is True, "a new pause after the last one ended"


def test_a_pause_holds_callers_even_without_a_rate_limit():
    clock = FakeClock()
    limiter, departures = limiter_with_log(0, clock)
    limiter.pause(2.0)
    run_threads(limiter, threads=4, each=3)
    assert len(departures) == 12
    assert min(departures) == pytest.approx(102.0)
    assert limiter.acquire() == 0.0, "after the pause, the free path again"


def test_a_caller_failing_while_it_waits_passes_its_turn_on():
    clock = FakeClock()
    failed = []

    def sleep_failing_once(seconds):
        if not failed:
            failed.append(seconds)
            raise RuntimeError("interrupted")
        clock.sleep(seconds)

    departures: list[float] = []
    limiter = RateLimiter(10, clock=clock, sleep=sleep_failing_once, on_departure=departures.append)
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(5):
                limiter.acquire()
        except RuntimeError as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in pool), "nobody is left waiting for a turn"
    assert len(errors) == 1
    assert len(departures) >= 16


def test_shared_registry_follows_the_connection_and_checks_the_channel():
    a = shared_limiter("scope-x", "messages", 50)
    assert shared_limiter("scope-x", "messages", 50) is a
    assert shared_limiter("scope-x", "messages", 3).rate == 3
    assert shared_limiter("scope-x", "messages", 3, margin=0.8).margin == 0.8
    assert shared_limiter("scope-x", STATUS_READS, 100) is not shared_limiter("scope-x", "commands", 200)
    with pytest.raises(ValueError, match="unknown Blip channel"):
        shared_limiter("scope-x", "sms", 1)
