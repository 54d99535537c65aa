"""The hook's one transport seam: the direct pool, the session through a proxy, a stand-in."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from airflow_provider_blip.exceptions import BlipTimeoutError, BlipTransportError
from airflow_provider_blip.hooks._transport import Answer, PoolTransport, SessionTransport
from airflow_provider_blip.hooks.blip import BlipHook
from tests.conftest import TEST_KEY, connection_json

ACCOUNT = "5511988887777@wa.gw.msging.net"
NO_LIMITS = {"messages_per_second": 0, "commands_per_second": 0, "notifications_per_second": 0}


class ForwardProxy:
    """A plain HTTP forward proxy on loopback: it relays absolute-URI requests and counts them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []  # (absolute URL, Proxy-Authorization)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append((self.path, self.headers.get("Proxy-Authorization")))
                target = urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
                upstream.request("POST", target.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://user:s3cret@127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy():
    server = ForwardProxy()
    yield server
    server.close()


def test_without_a_proxy_the_hook_uses_the_direct_pool(blip_conn):
    assert type(BlipHook().transport) is PoolTransport


def test_through_a_proxy_every_request_goes_via_the_session(emulator, proxy, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator, proxy=proxy.url, **NO_LIMITS))
    hook = BlipHook()
    assert type(hook.transport) is SessionTransport
    assert hook.get_whatsapp_account("+5511988887777") == ACCOUNT
    hook.send_message(ACCOUNT, "text/plain", "hi", envelope_id="m-1")
    assert [url.rsplit("/", 1)[1] for url, _ in proxy.seen] == ["commands", "messages"]
    assert all(auth and auth.startswith("Basic ") for _, auth in proxy.seen)  # credentials to the proxy
    assert [r.envelope["id"] for r in emulator.records("messages")] == ["m-1"]


def test_a_proxy_that_is_down_is_a_transport_error_without_its_url(emulator, proxy, monkeypatch):
    url = proxy.url
    proxy.close()
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator, proxy=url, max_retries=0, **NO_LIMITS)
    )
    with pytest.raises(BlipTransportError) as caught:
        BlipHook().send_message(ACCOUNT, "text/plain", "hi")
    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)
    assert emulator.records("messages") == []


class StandIn:
    """A transport that answers from a script: the seam a user's unit test can use."""

    def __init__(self, *answers: Answer | BaseException) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[str, dict]] = []

    def post(self, path: str, body: bytes) -> Answer:
        self.posts.append((path, json.loads(body)))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def ok(envelope_id: str = "x") -> Answer:
    resource = {"alternativeAccount": ACCOUNT}
    body = {"id": envelope_id, "status": "success", "method": "get", "resource": resource}
    return Answer(200, {}, json.dumps(body).encode())


@pytest.fixture
def nowhere(monkeypatch):
    """A connection to a closed port: only a stand-in transport can answer."""
    conn = {"conn_type": "blip", "host": "http://127.0.0.1:9", "password": TEST_KEY, "extra": NO_LIMITS}
    monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", json.dumps(conn))


@pytest.mark.usefixtures("nowhere")
def test_a_stand_in_transport_sees_every_envelope_and_no_network_is_used():
    stand_in = StandIn(ok(), ok())
    hook = BlipHook(transport=stand_in)
    assert hook.get_whatsapp_account("+5511988887777") == ACCOUNT
    assert hook.test_connection()[0] is True
    assert [(path, envelope["uri"]) for path, envelope in stand_in.posts] == [
        ("/commands", "lime://wa.gw.msging.net/accounts/%2B5511988887777"),
        ("/commands", "/ping"),
    ]


@pytest.mark.usefixtures("nowhere")
def test_a_timeout_from_the_transport_is_retried_then_named_by_envelope():
    stand_in = StandIn(BlipTimeoutError("no answer in time"), ok())
    hook = BlipHook(transport=stand_in, retry_base_delay=0)
    hook._sleep = lambda seconds: None
    assert hook.get_whatsapp_account("+5511988887777") == ACCOUNT
    assert len(stand_in.posts) == 2

    hook = BlipHook(transport=StandIn(BlipTimeoutError("no answer in time")), max_retries=0)
    with pytest.raises(
        BlipTimeoutError, match=r"did not answer /commands lime://wa\.gw\.msging\.net/accounts/"
    ) as caught:
        hook.get_whatsapp_account("+5511988887777")
    assert "988887777" not in str(caught.value)  # the number in the URI is masked
