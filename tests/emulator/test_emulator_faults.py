"""Rate limits, latency and injected faults."""

from __future__ import annotations

import time

import pytest
import requests

ACCOUNT = "5511988887777@wa.gw.msging.net"
PING = {"id": "p", "method": "get", "uri": "/ping"}


class TestRateLimits:
    def test_excess_requests_get_429_with_retry_after_and_are_not_processed(self, blip, emu):
        # One request per second: a burst of one, then refusals for the rest of the second.
        emu.configure(rate_limits={"messages": 1})
        statuses = [blip.send(ACCOUNT, id=f"r{i}").status_code for i in range(7)]
        assert statuses[0] == 202
        assert statuses.count(429) >= 5
        refused = blip.send(ACCOUNT, id="late")
        assert refused.status_code == 429
        retry_after = refused.headers["Retry-After"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1
        assert refused.json()["retryAfter"] == int(retry_after)
        accepted = statuses.count(202)
        assert len(emu.messages()) == accepted
        stats = emu.stats()
        assert stats["refused"] == 8 - accepted
        limited = [r for r in emu.records("messages") if r.outcome == "rate_limited"]
        assert len(limited) == 8 - accepted
        assert all(r.status == 429 and not r.processed for r in limited)
        assert blip.notifications("late") == []

    def test_limits_are_per_channel(self, blip, emu):
        emu.configure(rate_limits={"messages": 1})
        blip.send(ACCOUNT)
        assert blip.send(ACCOUNT).status_code == 429
        assert blip.post("commands", PING).status_code == 200

    def test_bucket_refills(self, blip, emu):
        emu.configure(rate_limits={"commands": 20}, rate_model="token_bucket")
        codes = [blip.post("commands", {**PING, "id": str(i)}).status_code for i in range(40)]
        assert codes[:20] == [200] * 20
        assert 429 in codes
        time.sleep(0.2)  # 20/s refills 4 tokens in 0.2 s
        assert blip.post("commands", PING).status_code == 200

    def test_disabling_limits(self, blip, emu):
        emu.configure(rate_limits={"messages": 1})
        blip.send(ACCOUNT)
        emu.configure(rate_limits=None)
        assert all(blip.send(ACCOUNT).status_code == 202 for _ in range(5))


class TestLatency:
    def test_latency_delays_every_answer(self, blip, emu):
        emu.configure(latency=0.5)
        # A client that waits less than the latency gets no answer; one that waits longer does.
        with pytest.raises(requests.Timeout):
            blip.session.post(
                f"{emu.url}/commands", json=PING, headers={"Authorization": f"Key {emu.key}"}, timeout=0.05
            )
        assert blip.post("commands", PING).status_code == 200

    def test_latency_applies_to_refusals_too(self, blip, emu):
        emu.configure(latency=0.5)
        with pytest.raises(requests.Timeout):
            blip.session.post(
                f"{emu.url}/commands", json=PING, headers={"Authorization": "Key nope"}, timeout=0.05
            )
        assert (
            blip.session.post(
                f"{emu.url}/commands", json=PING, headers={"Authorization": "Key nope"}
            ).status_code
            == 401
        )

    def test_concurrent_slow_answers_overlap(self, blip_emulator_factory):
        # 50 requests with 0.3 s latency, each allowed 2 s: served one after another they
        # would need 15 s and most would time out; overlapped, all of them are answered.
        import concurrent.futures

        emu = blip_emulator_factory(latency=0.3)

        def call(index: int) -> int:
            response = requests.post(
                f"{emu.url}/commands",
                json={**PING, "id": str(index)},
                headers={"Authorization": f"Key {emu.key}"},
                timeout=2,
            )
            return response.status_code

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(call, range(50)))
        assert codes == [200] * 50


class TestFaults:
    def test_error_rate_answers_5xx_without_processing(self, blip, emu):
        emu.configure(error_rate=1.0)
        response = blip.send(ACCOUNT, id="e1")
        assert response.status_code in (500, 502, 503, 504)
        assert emu.messages() == []
        [record] = emu.records()
        assert (record.outcome, record.status, record.processed) == (
            "server_error",
            response.status_code,
            False,
        )
        assert emu.stats()["faults"]["error"] == 1

    def test_drop_rate_closes_without_answer_or_processing(self, blip, emu):
        emu.configure(drop_rate=1.0)
        with pytest.raises(requests.ConnectionError):
            blip.send(ACCOUNT, id="d1")
        assert emu.messages() == []
        [record] = emu.records()
        assert (record.outcome, record.status, record.processed) == ("dropped", 0, False)
        assert emu.stats()["dropped"] == 1

    def test_drop_after_rate_processes_then_closes(self, blip, emu):
        emu.configure(drop_after_rate=1.0, fault_channels={"messages"})
        with pytest.raises(requests.ConnectionError):
            blip.send(ACCOUNT, id="da1")
        # The ambiguous case: the client saw an error but the message was stored and is delivered.
        assert [m["id"] for m in emu.messages()] == ["da1"]
        [record] = emu.records()
        assert (record.outcome, record.status, record.processed) == ("dropped", 0, True)
        items = blip.wait_for("da1", lambda items: "consumed" in blip.events(items))
        assert blip.events(items)[-1] == "consumed"

    def test_slow_rate_answers_late_but_processes(self, blip, emu):
        emu.configure(slow_rate=1.0, slow_seconds=0.3)
        assert blip.send(ACCOUNT, id="s1").status_code == 202
        assert emu.records()[0].processed is True
        assert emu.stats()["faults"]["slow"] == 1

    def test_slow_answer_times_out_the_client(self, blip, emu):
        emu.configure(slow_rate=1.0, slow_seconds=2.0)
        with pytest.raises(requests.Timeout):
            blip.session.post(
                f"{emu.url}/messages",
                json={"id": "s2", "to": ACCOUNT, "type": "text/plain", "content": "x"},
                timeout=0.3,
            )
        assert [m["id"] for m in emu.messages()] == ["s2"]

    def test_fault_channels_limit_where_faults_apply(self, blip, emu):
        emu.configure(error_rate=1.0, fault_channels=["messages"])
        assert blip.post("commands", PING).status_code == 200
        assert blip.send(ACCOUNT).status_code >= 500

    def test_faults_are_deterministic_for_a_seed(self, blip_emulator_factory):
        def run(seed: int) -> list[int]:
            emu = blip_emulator_factory(error_rate=0.5, seed=seed)
            session = requests.Session()
            headers = {"Authorization": f"Key {emu.key}"}
            return [
                session.post(f"{emu.url}/commands", json={**PING, "id": str(i)}, headers=headers).status_code
                for i in range(30)
            ]

        first = run(7)
        assert first == run(7)
        assert {200} < set(first)
        assert first != run(8)

    def test_reset_reseeds(self, blip, emu):
        emu.configure(error_rate=0.5, seed=11)
        first = [blip.post("commands", {**PING, "id": str(i)}).status_code for i in range(20)]
        emu.reset()
        assert [blip.post("commands", {**PING, "id": str(i)}).status_code for i in range(20)] == first
