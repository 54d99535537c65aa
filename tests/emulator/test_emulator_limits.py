"""Rate-limit models, arrival jitter, lockout, per-channel arrival stats and the strict preset."""

from __future__ import annotations

import concurrent.futures
import json
import random
import socket
import time

import pytest
import requests
from blip_emulator import STRICT_KNOBS, ChannelStats, EmulatorConfig, RateModel
from blip_emulator.__main__ import build_parser, config_from_args
from blip_emulator.config import PLAN_RATE_LIMITS
from blip_emulator.engine import Engine
from blip_emulator.limits import FixedWindow, RateLimits, SlidingWindow, TokenBucket
from blip_emulator.protocol import Request
from blip_emulator.records import _ArrivalWindow

from tests.emulator.conftest import BlipClient

ACCOUNT = "5511988887777@wa.gw.msging.net"
PING = {"id": "p", "method": "get", "uri": "/ping"}


def _message(index: int) -> bytes:
    return json.dumps({"id": f"m{index}", "to": ACCOUNT, "type": "text/plain", "content": "hi"}).encode()


def _raw_post(path: str, body: bytes, key: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Key {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _most_in_window(times: list[float], window: float = 1.0) -> int:
    """Brute force: the most of ``times`` in any ``(t - window, t]``."""
    return max((sum(1 for u in times if t - window < u <= t) for t in times), default=0)


class TestSlidingWindow:
    def test_admits_50_in_any_second_and_refuses_the_51st(self):
        window = SlidingWindow(50)
        assert [window.admit(i * 0.02) for i in range(50)] == [None] * 50  # t = 0 .. 0.98
        wait = window.admit(0.99)
        assert wait == pytest.approx(0.01)  # until the arrival at t=0 leaves the window
        # At t=1.0 the arrival at t=0 is one full second old: it no longer counts.
        assert window.admit(1.0) is None
        assert window.admit(1.0) is not None

    def test_no_window_holds_more_than_the_rate_and_every_refusal_had_a_full_window(self):
        rng = random.Random(7)
        window = SlidingWindow(10)
        arrivals = sorted(rng.uniform(0, 5) for _ in range(200))
        admitted: list[float] = []
        for t in arrivals:
            if window.admit(t) is None:
                admitted.append(t)
            else:
                assert sum(1 for u in admitted if t - 1 < u <= t) == 10
        assert _most_in_window(admitted) == 10

    def test_fractional_rates(self):
        window = SlidingWindow(2.5)  # floor: 2 per second
        assert [window.admit(0.0), window.admit(0.1), window.admit(0.2) is None] == [None, None, False]
        slow = SlidingWindow(0.5)  # one per two seconds
        assert slow.admit(0.0) is None
        assert slow.admit(1.9) is not None
        assert slow.admit(2.0) is None


class TestFixedWindow:
    def test_admits_50_per_wall_clock_second(self):
        window = FixedWindow(50)
        assert [window.admit(10.0 + i * 0.01) for i in range(50)] == [None] * 50  # 10.00 .. 10.49
        assert window.admit(10.9) == pytest.approx(0.1)  # the 51st of second 10 waits for 11.0
        # A new wall second starts afresh, though 50 were admitted in the second before:
        # the burst a sliding window forbids.
        assert [window.admit(11.0 + i * 0.001) for i in range(50)] == [None] * 50
        assert window.admit(11.5) is not None


class TestTokenBucket:
    def test_one_second_of_burst_then_the_rate(self):
        bucket = TokenBucket(20)
        assert [bucket.admit(0.0) for _ in range(20)] == [None] * 20
        assert bucket.admit(0.0) == pytest.approx(0.05)
        assert bucket.admit(0.2) is None  # 4 tokens back after 0.2 s
        assert [bucket.admit(0.2) for _ in range(3)] == [None] * 3
        assert bucket.admit(0.2) is not None


class TestLockout:
    def test_an_excess_locks_the_channel_for_lockout_seconds(self):
        limits = RateLimits(EmulatorConfig(rate_limits={"messages": 2}, lockout_seconds=120))
        assert limits.check("messages", 0.0, 0.0) is None
        assert limits.check("messages", 0.1, 0.1) is None
        first = limits.check("messages", 0.2, 0.2)
        assert first is not None
        assert (first.retry_after, first.lockout_started, first.locked_out) == (120, True, False)
        # Everything is refused until 120.2, with the seconds left rounded up, and the
        # refusals during the lockout do not extend it.
        during = [limits.check("messages", t, t) for t in (1.5, 60.0, 100.5, 120.1)]
        assert [r.retry_after for r in during if r] == [119, 61, 20, 1]
        assert all(r is not None and r.locked_out and not r.lockout_started for r in during)
        assert limits.check("messages", 120.2, 120.2) is None
        # Other channels were never affected.
        assert limits.check("commands", 1.0, 1.0) is None

    def test_without_lockout_retry_after_comes_from_the_model(self):
        limits = RateLimits(EmulatorConfig(rate_limits={"messages": 1}))
        assert limits.check("messages", 0.0, 0.0) is None
        refusal = limits.check("messages", 0.5, 0.5)
        assert refusal is not None
        assert (refusal.retry_after, refusal.lockout_started) == (1, False)
        assert limits.check("messages", 1.0, 1.0) is None

    def test_over_http_everything_is_429_then_it_recovers(self, blip, emu):
        emu.configure(rate_limits={"messages": 5}, lockout_seconds=1.2)
        statuses = [blip.send(ACCOUNT, id=f"a{i}").status_code for i in range(6)]
        assert statuses == [202] * 5 + [429]
        locked = [blip.send(ACCOUNT, id=f"b{i}") for i in range(5)]
        assert [r.status_code for r in locked] == [429] * 5
        assert all(r.headers["Retry-After"] in ("1", "2") for r in locked)
        assert "locked out" in locked[0].json()["error"]
        assert blip.post("commands", PING).status_code == 200  # per channel
        assert [m["id"] for m in emu.messages()] == [f"a{i}" for i in range(5)]
        time.sleep(1.3)  # past the lockout, and the five admitted are out of the window
        assert blip.send(ACCOUNT, id="c0").status_code == 202
        messages = emu.channel_stats()["messages"]
        assert (messages.refused, messages.lockouts) == (6, 1)
        assert [r.processed for r in emu.records("messages")].count(True) == 6


class TestModelsOverHttp:
    def test_sliding_is_the_default(self):
        assert EmulatorConfig().rate_model is RateModel.SLIDING

    def test_sliding_window_does_not_refill_like_a_bucket(self, blip, emu):
        # The same burst as test_bucket_refills: a sliding window stays closed until the
        # admitted requests are one second old, where a bucket has tokens back after 0.2 s.
        emu.configure(rate_limits={"commands": 20})
        codes = [blip.post("commands", {**PING, "id": str(i)}).status_code for i in range(40)]
        assert codes[:20] == [200] * 20
        assert set(codes[20:]) == {429}
        time.sleep(0.2)
        refused = blip.post("commands", PING)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"

    def test_the_knobs_over_the_admin_endpoint(self, emu):
        knobs = {"rate_model": "fixed", "arrival_jitter": 0.01, "lockout_seconds": 2}
        response = requests.post(f"{emu.url}/_emulator/config", json=knobs, timeout=5)
        assert response.status_code == 200
        assert {name: response.json()[name] for name in knobs} == knobs
        assert emu.config.rate_model is RateModel.FIXED
        bad = requests.post(f"{emu.url}/_emulator/config", json={"rate_model": "leaky"}, timeout=5)
        assert bad.status_code == 400
        assert "rate_model must be one of sliding, fixed, token_bucket" in bad.json()["error"]
        assert emu.config.rate_model is RateModel.FIXED

    @pytest.mark.parametrize(
        ("knobs", "message"),
        [
            ({"arrival_jitter": -0.1}, "arrival_jitter must be a finite number"),
            ({"lockout_seconds": float("inf")}, "lockout_seconds must be a finite number"),
            ({"rate_model": "bucket"}, "rate_model must be one of"),
        ],
    )
    def test_invalid_values(self, emu, knobs, message):
        with pytest.raises(ValueError, match=message):
            emu.configure(**knobs)


def _holds(seed: int, jitter: float, count: int) -> list[float]:
    """The holds an emulator with this seed draws for its first ``count`` Blip requests."""
    engine = Engine(EmulatorConfig(seed=seed, arrival_jitter=jitter))
    request = Request("POST", "/messages", "", {}, b"", "127.0.0.1")
    return [engine.arrival_hold(request) for _ in range(count)]


class TestArrivalJitter:
    def test_holds_are_seeded_uniform_and_only_for_blip_endpoints(self):
        holds = _holds(3, 0.02, 200)
        assert holds == _holds(3, 0.02, 200)
        assert holds != _holds(4, 0.02, 200)
        assert all(0.0 <= h <= 0.02 for h in holds)
        engine = Engine(EmulatorConfig(arrival_jitter=0.02))
        assert engine.arrival_hold(Request("POST", "/_emulator/reset", "", {}, b"", "127.0.0.1")) == 0.0
        assert Engine(EmulatorConfig()).arrival_hold(Request("POST", "/messages", "", {}, b"", "")) == 0.0

    def test_a_held_request_is_counted_and_processed_only_when_it_arrives(self, blip_emulator_factory):
        # The control is reply latency: the same wait, but the request arrives at once.
        assert _holds(25, 1.0, 1)[0] > 0.9
        held = blip_emulator_factory(seed=25, arrival_jitter=1.0)
        delayed = blip_emulator_factory(latency=1.0)
        sockets = [socket.create_connection((emu.host, emu.port), timeout=5) for emu in (held, delayed)]
        for emu, sock in zip((held, delayed), sockets, strict=True):
            sock.sendall(_raw_post("/messages", _message(0), emu.key))
        time.sleep(0.2)
        assert (held.stats()["requests"]["messages"], held.messages(), held.records()) == (0, [], [])
        assert delayed.stats()["requests"]["messages"] == 1
        assert [m["id"] for m in delayed.messages()] == ["m0"]
        for sock in sockets:
            with sock:
                assert sock.recv(65536).startswith(b"HTTP/1.1 202 ")
        assert held.stats()["requests"]["messages"] == 1
        assert [m["id"] for m in held.messages()] == ["m0"]

    def test_a_request_sent_before_the_client_went_away_still_arrives(self, blip_emulator_factory):
        emu = blip_emulator_factory(seed=25, arrival_jitter=0.3)
        with socket.create_connection((emu.host, emu.port), timeout=3) as sock:
            sock.sendall(_raw_post("/messages", _message(0), emu.key))
        deadline = time.monotonic() + 5
        while not emu.messages() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m["id"] for m in emu.messages()] == ["m0"]

    def test_the_limit_counts_arrivals_not_sends(self, blip_emulator_factory):
        # A leaves first but is held 0.96 s; B leaves 0.1 s later and is held 0.002 s. With one
        # request per 100 s allowed, B arrives first and is admitted, A is refused.
        hold_a, hold_b = _holds(25, 1.0, 2)
        assert hold_a - hold_b > 0.9
        emu = blip_emulator_factory(seed=25, arrival_jitter=1.0, rate_limits={"messages": 0.01})
        a, b = socket.create_connection((emu.host, emu.port)), socket.create_connection((emu.host, emu.port))
        with a, b:
            a.sendall(_raw_post("/messages", _message(0), emu.key))
            time.sleep(0.1)
            b.sendall(_raw_post("/messages", _message(1), emu.key))
            a.settimeout(5)
            b.settimeout(5)
            answers = {"m0": a.recv(65536), "m1": b.recv(65536)}
        assert answers["m1"].startswith(b"HTTP/1.1 202 ")
        assert answers["m0"].startswith(b"HTTP/1.1 429 ")
        assert [r.envelope["id"] for r in emu.records("messages")] == ["m1", "m0"]

    def test_pipelined_requests_stay_in_order(self, blip_emulator_factory):
        emu = blip_emulator_factory(arrival_jitter=0.02, seed=5)
        blip = BlipClient(emu)
        assert [blip.send(ACCOUNT, id=f"m{i}").status_code for i in range(10)] == [202] * 10
        assert [r.envelope["id"] for r in emu.records("messages")] == [f"m{i}" for i in range(10)]
        pipelined = b"".join(_raw_post("/messages", _message(i), emu.key) for i in range(10, 15))
        raw = blip.raw(pipelined, quiet=1.0)
        assert raw.count(b"HTTP/1.1 202 ") == 5
        assert [r.envelope["id"] for r in emu.records("messages")][10:] == [f"m{i}" for i in range(10, 15)]


class TestArrivalStats:
    def test_running_maximum_matches_a_brute_force_count(self):
        rng = random.Random(11)
        times = sorted(rng.uniform(0, 20) for _ in range(500))
        window = _ArrivalWindow()
        for t in times:
            window.add(t)
        assert (window.count, window.maximum) == (500, _most_in_window(times))
        assert len(window.recent) < 100  # only the last second is kept

    def test_the_window_edge(self):
        window = _ArrivalWindow()
        for t in (0.0, 0.5, 0.99):
            window.add(t)
        window.add(1.0)  # t=0 is exactly one second old: not in the same window
        assert window.maximum == 3

    def test_channel_stats_count_admitted_and_refused(self, blip, emu):
        emu.configure(rate_limits={"messages": 0.01})  # one message per 100 s
        statuses = [blip.send(ACCOUNT, id=f"m{i}").status_code for i in range(5)]
        assert statuses == [202] + [429] * 4
        blip.post("commands", PING)
        stats = emu.channel_stats()
        assert stats["messages"] == ChannelStats(requests=5, max_in_window=5, refused=4, lockouts=0)
        assert stats["commands"] == ChannelStats(requests=1, max_in_window=1, refused=0, lockouts=0)
        assert stats["notifications"] == ChannelStats()
        over_http = requests.get(f"{emu.url}/_emulator/stats", timeout=5).json()
        assert over_http["channels"]["messages"] == {
            "requests": 5,
            "max_in_window": 5,
            "refused": 4,
            "lockouts": 0,
        }
        emu.reset()
        assert emu.channel_stats()["messages"] == ChannelStats()
        assert blip.send(ACCOUNT).status_code == 202  # reset also empties the windows


class TestStrictPreset:
    def test_knobs(self):
        config = EmulatorConfig.strict()
        assert config.rate_limits == PLAN_RATE_LIMITS["paid"]
        assert (config.rate_model, config.arrival_jitter, config.lockout_seconds) == (
            RateModel.SLIDING,
            0.02,
            120.0,
        )
        assert set(STRICT_KNOBS) == {
            "rate_limits",
            "rate_model",
            "arrival_jitter",
            "lockout_seconds",
            "enforce_templates",
        }
        overridden = EmulatorConfig.strict(lockout_seconds=0.5, seed=3)
        assert (overridden.lockout_seconds, overridden.seed, overridden.arrival_jitter) == (0.5, 3, 0.02)
        with pytest.raises(ValueError, match="'lockout'"):
            EmulatorConfig.strict(lockout=1)

    def test_cli_flag_and_overrides(self):
        parse = build_parser().parse_args
        assert config_from_args(parse(["--strict"])) == EmulatorConfig.strict()
        custom = config_from_args(parse(["--strict", "--lockout-seconds", "0", "--rate-limit", "free"]))
        assert (custom.lockout_seconds, custom.rate_limits) == (0.0, PLAN_RATE_LIMITS["free"])
        assert custom.arrival_jitter == 0.02
        plain = config_from_args(parse([]))
        assert (plain.rate_limits, plain.rate_model, plain.arrival_jitter, plain.lockout_seconds) == (
            None,
            RateModel.SLIDING,
            0.0,
            0.0,
        )
        knobs = "--rate-model token_bucket --arrival-jitter 0.01 --lockout-seconds 3 --rate-limit paid"
        each = config_from_args(parse(knobs.split()))
        assert (each.rate_model, each.arrival_jitter, each.lockout_seconds) == (
            RateModel.TOKEN_BUCKET,
            0.01,
            3,
        )

    def test_plugin_fixtures(self, blip_emulator_factory, blip_strict_emulator):
        assert blip_strict_emulator.config == EmulatorConfig.strict()
        emu = blip_emulator_factory(strict=True, lockout_seconds=0.5)
        assert emu.config == EmulatorConfig.strict(lockout_seconds=0.5)

    def test_a_burst_over_the_paid_plan_locks_messages_out(self, blip_strict_emulator):
        emu = blip_strict_emulator
        clients = [BlipClient(emu) for _ in range(10)]

        def send(index: int) -> requests.Response:
            return clients[index % 10].send(ACCOUNT, id=f"m{index}")

        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(send, range(60)))
        statuses = [answer.status_code for answer in answers]
        assert (statuses.count(202), statuses.count(429)) == (50, 10)
        assert {a.headers["Retry-After"] for a in answers if a.status_code == 429} == {"120"}
        assert emu.channel_stats()["messages"] == ChannelStats(
            requests=60, max_in_window=60, refused=10, lockouts=1
        )
        assert len(emu.messages()) == 50


class TestAdminWithoutBody:
    def test_reset_without_body_or_content_length(self, blip, emu):
        blip.send(ACCOUNT, id="m1")
        raw = blip.raw(b"POST /_emulator/reset HTTP/1.1\r\nHost: x\r\n\r\n", quiet=1.0)
        assert raw.startswith(b"HTTP/1.1 200 ")
        assert emu.messages() == []

    def test_config_without_body_changes_nothing(self, blip, emu):
        before = emu.config
        raw = blip.raw(b"POST /_emulator/config HTTP/1.1\r\nHost: x\r\n\r\n", quiet=1.0)
        assert raw.startswith(b"HTTP/1.1 200 ")
        assert emu.config == before

    def test_blip_endpoints_still_need_a_length(self, blip):
        raw = blip.raw(b"POST /messages HTTP/1.1\r\nHost: x\r\n\r\n", quiet=3)
        assert raw.startswith(b"HTTP/1.1 411 ")
