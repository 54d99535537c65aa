"""BlipHook over real HTTP against the emulator."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_blip.exceptions import (
    BlipAuthError,
    BlipBadRequestError,
    BlipCommandError,
    BlipNotFoundError,
    BlipPagingLimitError,
    BlipServerError,
    BlipTimeoutError,
    BlipTransportError,
)
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils import lime
from tests.conftest import TEST_KEY, connection_json


class RecordingSleep:
    """Stand-in for the hook's wait between retries: records waits, optionally acts on them."""

    def __init__(self, on_sleep=None, real=False):
        self.waits: list[float] = []
        self.on_sleep = on_sleep
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real:
            time.sleep(seconds)
        if self.on_sleep:
            self.on_sleep(len(self.waits))


def make_hook(**kwargs) -> tuple[BlipHook, RecordingSleep]:
    hook = BlipHook(retry_base_delay=0.01, **kwargs)
    sleeper = RecordingSleep()
    hook._sleep = sleeper
    return hook, sleeper


def outcomes(emulator, channel="commands"):
    return [r.outcome for r in emulator.records(channel)]


class TestCommands:
    def test_ping_sends_key_header_and_returns_envelope(self, blip_conn):
        hook, _ = make_hook()
        response = hook.send_command("get", "/ping", to=lime.POSTMASTER)
        assert response["status"] == "success"
        assert response["type"] == "application/vnd.lime.ping+json"
        (record,) = blip_conn.records("commands")
        assert record.envelope["uri"] == "/ping"
        assert record.envelope["id"] == response["id"]

    def test_caller_chosen_envelope_id_is_sent(self, blip_conn):
        hook, _ = make_hook()
        hook.send_command("get", "/ping", envelope_id="my-fixed-id")
        assert blip_conn.records("commands")[0].envelope["id"] == "my-fixed-id"

    def test_failure_raises_typed_error_with_reason(self, blip_conn):
        hook, _ = make_hook()
        member = "5531988887777@wa.gw.msging.net"
        with pytest.raises(BlipCommandError) as info:
            hook.send_command(
                "set",
                lime.path("lists", "nolist@broadcast.msging.net", "recipients"),
                to=lime.POSTMASTER_BROADCAST,
                content_type="application/vnd.lime.identity",
                resource=member,
                envelope_id="cmd-1",
            )
        err = info.value
        assert err.code == 101
        assert err.method == "set"
        assert err.envelope_id == "cmd-1"
        assert "/lists/nolist%40broadcast.msging.net/recipients" in err.uri
        assert "101" in str(err)
        assert outcomes(blip_conn) == ["failure"], "a failed command is not retried"

    def test_reason_67_is_not_found_and_missing_ok_gives_none(self, blip_conn):
        hook, _ = make_hook()
        uri = lime.path("contexts", "5531988887777@wa.gw.msging.net", "master-state")
        with pytest.raises(BlipNotFoundError) as info:
            hook.get_resource(uri)
        assert info.value.code == 67
        assert hook.get_resource(uri, missing_ok=True) is None

    def test_uri_segments_are_percent_encoded(self, blip_conn):
        hook, _ = make_hook()
        identity = "5531988887777@wa.gw.msging.net"
        uri = lime.path("contexts", identity, "stateid@flow-1")
        hook.send_command("set", uri, content_type="text/plain", resource="block-a")
        assert hook.get_resource(uri) == "block-a"
        sent = blip_conn.records("commands")[0].envelope["uri"]
        assert sent == "/contexts/5531988887777%40wa.gw.msging.net/stateid%40flow-1"

    def test_plus_in_list_name_is_encoded(self, blip_conn):
        hook, _ = make_hook()
        senders = f"{blip_conn.bot_identity.split('@')[0]}+senders@broadcast.msging.net"
        uri = lime.path("lists", senders, "recipients")
        assert "%2Bsenders%40broadcast" in uri
        items = list(hook.iter_collection(uri, to=lime.POSTMASTER_BROADCAST))
        assert items == []
        assert "%2B" in blip_conn.records("commands")[0].envelope["uri"]

    def test_odata_query_keeps_dollar_and_quotes(self):
        uri = lime.with_query("/contacts", {"$filter": "(substringof('WhatsApp',source))", "x": None})
        assert uri == "/contacts?$filter=(substringof('WhatsApp'%2Csource))"

    def test_whatsapp_lookup_uri_requires_plus(self):
        assert lime.whatsapp_account_uri("+5531988887777").endswith("/accounts/%2B5531988887777")
        with pytest.raises(ValueError, match=r"\+"):
            lime.whatsapp_account_uri("5531988887777")


class TestMessages:
    def test_send_message_returns_id_and_notifications_follow(self, blip_conn):
        hook, _ = make_hook()
        account = hook.get_resource(lime.whatsapp_account_uri("+5511987654321"), to=lime.POSTMASTER_WHATSAPP)[
            "alternativeAccount"
        ]
        message_id = hook.send_message(account, "text/plain", "olá", envelope_id="msg-1")
        assert message_id == "msg-1"
        (record,) = blip_conn.records("messages")
        assert record.status == 202
        assert record.envelope["to"] == account
        assert record.envelope["content"] == "olá"
        events = {n["event"] for n in hook.get_notifications("msg-1")}
        assert "accepted" in events

    def test_send_notification(self, blip_conn):
        hook, _ = make_hook()
        hook.send_notification("5511987654321@wa.gw.msging.net", "consumed", envelope_id="in-1")
        (record,) = blip_conn.records("notifications")
        assert record.envelope == {"id": "in-1", "to": "5511987654321@wa.gw.msging.net", "event": "consumed"}


class TestErrorsAndRetries:
    def test_401_raises_at_once_without_retry(self, emulator, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator).replace(TEST_KEY, "wrong-key-123")
        )
        hook, sleeper = make_hook()
        with pytest.raises(BlipAuthError):
            hook.send_command("get", "/ping")
        assert sleeper.waits == []
        assert len(emulator.records("commands")) == 1

    def test_429_waits_for_the_channel_then_succeeds(self, blip_conn):
        # What changed with pacing: the wait is the channel's pause (tests/hooks/test_pacing.py),
        # not a sleep of the thread that got the 429.
        blip_conn.configure(rate_limits={"commands": 1})
        hook, sleeper = make_hook()
        hook.send_command("get", "/ping")  # takes the only slot of this second
        hook.send_command("get", "/ping")  # refused once, then waits Retry-After
        assert outcomes(blip_conn) == ["ok", "rate_limited", "ok"]
        assert sleeper.waits == []
        _, refused, retried = blip_conn.records("commands")
        assert retried.received_at - refused.received_at >= 1.0, "Retry-After (>= 1 s) was honoured"

    def test_5xx_is_retried_then_succeeds(self, blip_conn):
        blip_conn.configure(error_rate=1.0)
        hook, sleeper = make_hook()
        sleeper.on_sleep = lambda n: blip_conn.configure(error_rate=0.0) if n == 2 else None
        assert hook.send_command("get", "/ping")["status"] == "success"
        assert outcomes(blip_conn) == ["server_error", "server_error", "ok"]
        assert len(sleeper.waits) == 2

    def test_retries_are_bounded_and_say_so(self, blip_conn):
        blip_conn.configure(error_rate=1.0)
        hook, sleeper = make_hook(max_retries=2)
        with pytest.raises(BlipServerError) as info:
            hook.send_command("get", "/ping")
        assert len(blip_conn.records("commands")) == 3
        assert len(sleeper.waits) == 2
        assert "gave up after 3 attempts" in "".join(info.value.__notes__)

    def test_backoff_grows_exponentially_within_bounds(self, blip_conn):
        blip_conn.configure(error_rate=1.0)
        hook, sleeper = make_hook(max_retries=6)
        hook.retry_base_delay, hook.retry_max_delay = 1.0, 8.0
        with pytest.raises(BlipServerError):
            hook.send_command("get", "/ping")
        # full jitter: each wait lies in [0, min(max, base * 2^n)]
        for n, wait in enumerate(sleeper.waits):
            assert 0 <= wait <= min(8.0, 2**n)

    def test_dropped_connection_is_retried(self, blip_conn):
        blip_conn.configure(drop_rate=1.0)
        hook, sleeper = make_hook()
        sleeper.on_sleep = lambda n: blip_conn.configure(drop_rate=0.0)
        assert hook.send_command("get", "/ping")["status"] == "success"
        assert outcomes(blip_conn) == ["dropped", "ok"]

    def test_dropped_connection_exhausted_is_transport_error(self, blip_conn):
        blip_conn.configure(drop_rate=1.0)
        hook, _ = make_hook(max_retries=1)
        with pytest.raises(BlipTransportError):
            hook.send_command("get", "/ping")

    def test_timeout(self, blip_conn):
        blip_conn.configure(slow_rate=1.0, slow_seconds=2.0)
        hook, _ = make_hook(timeout=0.2, max_retries=0)
        with pytest.raises(BlipTimeoutError, match="within 0.2s"):
            hook.send_command("get", "/ping")

    def test_bad_request_is_not_retried(self, blip_conn):
        hook, sleeper = make_hook()
        with pytest.raises(BlipBadRequestError) as info:
            hook.send_message("", "text/plain", "no recipient")
        assert info.value.http_status == 400
        assert sleeper.waits == []
        assert len(blip_conn.records("messages")) == 1

    def test_unknown_command_is_a_failure_not_a_retry(self, blip_conn):
        hook, sleeper = make_hook()
        with pytest.raises(BlipCommandError) as info:
            hook.send_command("get", "/no-such-thing")
        assert info.value.code in (62, 63)
        assert sleeper.waits == []


class TestPaging:
    def test_pages_until_a_short_page(self, blip_conn):
        blip_conn.add_contacts(250)
        hook, _ = make_hook()
        items = list(hook.iter_collection("/contacts", to=lime.POSTMASTER_CRM, page_size=100))
        assert len(items) == 250
        assert len({i["identity"] for i in items}) == 250
        uris = [r.envelope["uri"] for r in blip_conn.records("commands")]
        assert uris == [
            "/contacts?$skip=0&$take=100",
            "/contacts?$skip=100&$take=100",
            "/contacts?$skip=200&$take=100",
        ]

    def test_filtered_query_stops_at_documented_window(self, blip_conn):
        blip_conn.add_contacts(10_050, source="WhatsApp")
        hook, _ = make_hook()
        uri = lime.with_query("/contacts", {"$filter": "(substringof('WhatsApp',source))"})
        seen: list[dict] = []
        items = hook.iter_collection(uri, to=lime.POSTMASTER_CRM, page_size=3000)
        with pytest.raises(BlipPagingLimitError, match="10000"):
            seen.extend(items)
        assert len(seen) == 10_000
        takes = [r.envelope["uri"].rsplit("$take=", 1)[1] for r in blip_conn.records("commands")]
        assert takes == ["3000", "3000", "3000", "1000"], "the last page shrinks to skip + take = 10000"
        assert all(r.outcome == "ok" for r in blip_conn.records("commands"))


class TestRateLimit:
    def test_parallel_sends_stay_under_the_plan_rate(self, emulator, monkeypatch):
        # The emulator refuses anything over 20 messages/s; the hook is set to the same rate.
        emulator.configure(rate_limits={"messages": 20})
        monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator, messages_per_second=20))
        hook, _ = make_hook(concurrency=8)
        with ThreadPoolExecutor(8) as pool:
            ids = list(
                pool.map(
                    lambda i: hook.send_message("5511987654321@wa.gw.msging.net", "text/plain", str(i)),
                    range(40),
                )
            )
        assert len(set(ids)) == 40
        assert outcomes(emulator, "messages").count("ok") == 40
        assert emulator.stats()["refused"] == 0

    def test_limiter_is_shared_by_hooks_of_the_same_bot(self, blip_conn):
        a, _ = make_hook()
        b, _ = make_hook()
        assert a.limiter("messages") is b.limiter("messages")
        assert a.limiter("messages") is not a.limiter("commands")


class TestConnectionTest:
    def test_true_on_good_key(self, blip_conn):
        ok, message = BlipHook().test_connection()
        assert ok is True
        assert blip_conn.url in message

    def test_false_on_bad_key_without_the_key(self, emulator, monkeypatch):
        bad = "bm90LXRoZS1yaWdodC1rZXk="
        monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator).replace(TEST_KEY, bad))
        ok, message = BlipHook().test_connection()
        assert ok is False
        assert "401" in message
        assert bad not in message


class TestSecrets:
    def test_key_never_in_logs_errors_or_reprs(self, blip_conn, caplog, capfd):
        caplog.set_level(logging.DEBUG)
        hook, _ = make_hook(max_retries=1)
        blip_conn.configure(error_rate=1.0)
        with pytest.raises(BlipServerError) as info:
            hook.send_command("get", "/ping")
        blip_conn.configure(error_rate=0.0)
        with pytest.raises(BlipCommandError) as failure:
            hook.get_resource(lime.path("contexts", "5511987654321@wa.gw.msging.net", "x"))
        # Airflow 3 logs through structlog to the console: read both the console and caplog.
        out, err = capfd.readouterr()
        logs = caplog.text + out + err
        texts = [
            logs,
            str(info.value),
            repr(info.value),
            str(failure.value),
            repr(hook),
            repr(hook.config),
            repr(hook.session.auth),
            str(hook.test_connection()),
        ]
        assert "retrying" in logs, "the retry was logged"
        for text in texts:
            assert TEST_KEY not in text

    def test_phone_numbers_masked_in_errors(self, blip_conn):
        hook, _ = make_hook()
        with pytest.raises(BlipNotFoundError) as info:
            hook.get_resource(lime.path("contexts", "5511987654321@wa.gw.msging.net", "x"))
        assert "5511987654321" not in str(info.value)
        assert "5511*****4321" in str(info.value)


def test_session_is_shared_across_threads_and_pooled(blip_conn):
    hook, _ = make_hook(concurrency=4)
    barrier = threading.Barrier(4)

    def ping(_):
        barrier.wait()
        return hook.send_command("get", "/ping")["status"]

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ping, range(4))) == ["success"] * 4
    adapter = hook.session.get_adapter(blip_conn.url)
    assert adapter._pool_maxsize == 4


class TestExactlyOnce:
    def stored(self, emulator, message_id):
        return [m for m in emulator.messages() if m["id"] == message_id]

    def test_processed_then_dropped_is_not_sent_twice(self, blip_conn):
        # Blip stores the message, then the connection drops before the 202 arrives.
        blip_conn.configure(drop_after_rate=1.0, fault_channels=["messages"])
        hook, sleeper = make_hook()
        assert (
            hook.send_message("5511987654321@wa.gw.msging.net", "text/plain", "hi", envelope_id="m-1")
            == "m-1"
        )
        assert len(sleeper.waits) == 1, "one retry, answered by the notification check"
        assert len(self.stored(blip_conn, "m-1")) == 1
        assert [r.outcome for r in blip_conn.records("messages")] == ["dropped"]

    def test_dropped_before_processing_is_sent_again(self, blip_conn):
        blip_conn.configure(drop_rate=1.0, fault_channels=["messages"])
        hook, sleeper = make_hook()
        sleeper.on_sleep = lambda n: blip_conn.configure(drop_rate=0.0)
        hook.send_message("5511987654321@wa.gw.msging.net", "text/plain", "hi", envelope_id="m-2")
        assert len(self.stored(blip_conn, "m-2")) == 1
        assert [r.outcome for r in blip_conn.records("messages")] == ["dropped", "ok"]

    def test_rate_limited_is_resent_without_checking(self, blip_conn):
        blip_conn.configure(rate_limits={"messages": 1})
        hook, _ = make_hook()
        hook.send_message("5511987654321@wa.gw.msging.net", "text/plain", "a", envelope_id="m-3")
        hook.send_message("5511987654321@wa.gw.msging.net", "text/plain", "b", envelope_id="m-4")
        assert [r.outcome for r in blip_conn.records("messages")] == ["ok", "rate_limited", "ok"]
        assert not [r for r in blip_conn.records("commands") if "notifications" in r.envelope["uri"]]
