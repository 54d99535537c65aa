"""A wrong key or a wrong base URL costs one request per hook, and fails the task without retries."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_blip.exceptions import (
    BlipAuthError,
    BlipBadRequestError,
    BlipConfigError,
    BlipEndpointError,
    BlipError,
    BlipHTTPError,
    BlipRateLimitError,
    BlipServerError,
    BlipTransportError,
)
from airflow_provider_blip.hooks.blip import BlipHook
from tests.conftest import TEST_KEY

WRONG_KEY = "d3Jvbmcta2V5LW9mLXNvbWVvbmUtZWxzZQ=="
NO_LIMITS = {"messages_per_second": 0, "commands_per_second": 0, "notifications_per_second": 0}


def use_connection(monkeypatch, host: str, key: str = TEST_KEY) -> None:
    conn = {"conn_type": "blip", "host": host, "password": key, "extra": NO_LIMITS}
    monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", json.dumps(conn))


def call_at_once(hook: BlipHook, threads: int, call) -> list[BaseException | None]:
    """Run ``call(hook, i)`` in ``threads`` threads released together; return each one's error."""
    barrier = threading.Barrier(threads)

    def one(i: int) -> BaseException | None:
        barrier.wait()
        try:
            call(hook, i)
        except BlipError as exc:
            return exc
        return None

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


def ping(hook: BlipHook, _: int) -> None:
    hook.send_command("get", "/ping")


def send(hook: BlipHook, i: int) -> None:
    hook.send_message(f"55119{i:08d}@wa.gw.msging.net", "text/plain", "hi")


class TestErrorTree:
    @pytest.mark.parametrize("cls", [BlipAuthError, BlipEndpointError, BlipConfigError])
    def test_fatal_errors_fail_the_task_without_airflow_retries(self, cls):
        assert issubclass(cls, AirflowFailException)
        assert issubclass(cls, BlipError)

    def test_the_rest_of_the_tree_still_holds(self):
        assert issubclass(BlipConfigError, ValueError)
        assert issubclass(BlipAuthError, BlipHTTPError)
        assert issubclass(BlipEndpointError, BlipHTTPError)
        for cls in (BlipRateLimitError, BlipServerError, BlipTransportError, BlipBadRequestError):
            assert not issubclass(cls, AirflowFailException), cls
        error = BlipAuthError(401, path="/commands")  # the old signature still works
        assert (error.http_status, error.retryable) == (401, False)


class TestWrongKey:
    def test_32_threads_cost_one_request_and_all_fail(self, emulator, monkeypatch):
        emulator.configure(latency=0.2)  # the first answer is slow: the others are waiting by then
        use_connection(monkeypatch, emulator.url, WRONG_KEY)
        hook = BlipHook(concurrency=32)
        errors = call_at_once(hook, 32, ping)
        assert all(isinstance(e, BlipAuthError) for e in errors), errors
        assert [r.outcome for r in emulator.records()] == ["unauthorized"]
        with pytest.raises(BlipAuthError) as later:
            send(hook, 1)  # another channel, later: nothing sent either
        assert len(emulator.records()) == 1
        assert "not sent" in "".join(later.value.__notes__)

    def test_text_names_the_connection_and_host_never_the_key(self, emulator, monkeypatch):
        use_connection(monkeypatch, emulator.url, WRONG_KEY)
        hook = BlipHook()
        with pytest.raises(BlipAuthError) as info:
            ping(hook, 0)
        text = str(info.value)
        assert "'blip_default'" in text
        assert emulator.url in text
        assert "Bot key" in text
        assert "router" in text
        assert WRONG_KEY not in text
        assert WRONG_KEY not in repr(info.value)
        ok, message = BlipHook().test_connection()
        assert ok is False
        assert "'blip_default'" in message
        assert WRONG_KEY not in message

    def test_403_is_an_auth_error_after_one_request(self, status_server, monkeypatch):
        server = status_server(403)
        use_connection(monkeypatch, server.url)
        hook = BlipHook(concurrency=32)
        errors = call_at_once(hook, 32, send)
        assert all(isinstance(e, BlipAuthError) for e in errors), errors
        assert errors[0].http_status == 403
        assert server.requests == 1
        assert "'blip_default'" in str(errors[0])
        assert server.url in str(errors[0])
        assert TEST_KEY not in str(errors[0])

    def test_a_key_refused_later_stops_the_hook_too(self, emulator, monkeypatch):
        use_connection(monkeypatch, emulator.url)
        hook = BlipHook()
        ping(hook, 0)
        emulator.configure(key="rotated-key-0123456789")  # the bot's key was regenerated
        with pytest.raises(BlipAuthError):
            ping(hook, 0)
        with pytest.raises(BlipAuthError):
            ping(hook, 0)
        assert [r.outcome for r in emulator.records()] == ["ok", "unauthorized"]


class TestWrongPath:
    def test_base_url_with_a_path_is_an_endpoint_error(self, emulator, monkeypatch):
        use_connection(monkeypatch, emulator.url + "/api/v1")
        hook = BlipHook()
        with pytest.raises(BlipEndpointError) as info:
            ping(hook, 0)
        text = str(info.value)
        assert "'blip_default'" in text
        assert f"{emulator.url}/api/v1/commands" in text
        assert "Host" in text
        assert TEST_KEY not in text
        with pytest.raises(BlipEndpointError):
            send(hook, 0)
        assert emulator.records() == [], "the emulator never saw a Blip request"
        ok, message = BlipHook().test_connection()
        assert (ok, "/api/v1/commands" in message) == (False, True)

    def test_32_threads_cost_one_request(self, status_server, monkeypatch):
        server = status_server(404)
        use_connection(monkeypatch, server.url)
        hook = BlipHook(concurrency=32)
        errors = call_at_once(hook, 32, send)
        assert all(isinstance(e, BlipEndpointError) for e in errors), errors
        assert server.requests == 1
        assert server.paths == ["/messages"]


class TestTheGate:
    def test_after_a_first_success_requests_go_in_parallel(self, status_server, monkeypatch):
        server = status_server(200, hold=0.3)
        use_connection(monkeypatch, server.url)
        hook = BlipHook(concurrency=8)
        ping(hook, 0)
        assert server.max_in_flight == 1
        assert call_at_once(hook, 8, ping) == [None] * 8
        assert server.requests == 9
        assert server.max_in_flight > 1, "no gate once the connection answered"

    def test_a_first_answer_that_is_not_fatal_does_not_stop_the_hook(self, emulator, monkeypatch):
        use_connection(monkeypatch, emulator.url)
        hook = BlipHook(concurrency=8)
        with pytest.raises(BlipBadRequestError):
            hook.send_message("", "text/plain", "no recipient")  # refused (400), not the key
        assert call_at_once(hook, 8, ping) == [None] * 8
        assert [r.outcome for r in emulator.records("commands")] == ["ok"] * 8
