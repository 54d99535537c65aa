"""HTTP/1.1 behaviour: auth, envelope validation, status codes, keep-alive, robustness."""

from __future__ import annotations

import json
import re
import socket

import pytest
import requests
from blip_emulator import BlipEmulator, EmulatorConfig

PING = {"id": "p1", "method": "get", "uri": "/ping"}


def _request(path: str, body: bytes, *extra: str, key: str = "emulator-key") -> bytes:
    headers = [
        f"POST {path} HTTP/1.1",
        "Host: x",
        f"Authorization: Key {key}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


class TestAuth:
    @pytest.mark.parametrize("header", [None, "Key wrong", "emulator-key", "Bearer emulator-key"])
    def test_wrong_or_missing_key_is_401_with_empty_body(self, emu, header):
        headers = {} if header is None else {"Authorization": header}
        response = requests.post(f"{emu.url}/commands", json=PING, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.content == b""
        [record] = emu.records()
        assert (record.outcome, record.status, record.envelope) == ("unauthorized", 401, PING)
        assert record.processed is False

    def test_scheme_name_is_case_insensitive(self, emu):
        response = requests.post(
            f"{emu.url}/commands", json=PING, headers={"Authorization": "key emulator-key"}
        )
        assert response.status_code == 200

    def test_unauthorized_message_is_not_stored(self, emu):
        requests.post(
            f"{emu.url}/messages", json={"id": "m", "to": "a@0mn.io", "type": "text/plain", "content": "x"}
        )
        assert emu.messages() == []


class TestBadRequests:
    def test_content_type_must_be_json(self, blip, emu):
        response = blip.session.post(
            f"{emu.url}/commands", data=json.dumps(PING), headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 400
        assert "Content-Type" in response.json()["error"]
        assert emu.records()[0].outcome == "bad_request"

    @pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
    def test_body_must_be_a_json_object(self, blip, emu, body):
        response = blip.session.post(
            f"{emu.url}/messages", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        # Only parseable envelopes are recorded; the request is still counted.
        assert emu.records() == []
        assert emu.stats()["requests"]["messages"] == 1
        assert emu.stats()["responses"] == {400: 1}

    @pytest.mark.parametrize(
        ("channel", "envelope", "complaint"),
        [
            ("messages", {"type": "text/plain", "content": "x"}, "'to'"),
            ("messages", {"to": "a@0mn.io", "content": "x"}, "'type'"),
            ("messages", {"to": "a@0mn.io", "type": "text/plain"}, "'content'"),
            ("messages", {"id": 5, "to": "a@0mn.io", "type": "text/plain", "content": "x"}, "id"),
            ("commands", {"method": "get", "uri": "/ping"}, "'id'"),
            ("commands", {"id": "1", "uri": "/ping"}, "'method'"),
            ("commands", {"id": "1", "method": "post", "uri": "/ping"}, "'method'"),
            ("commands", {"id": "1", "method": "get"}, "'uri'"),
            ("notifications", {"id": "m", "to": "a@0mn.io"}, "'event'"),
            ("notifications", {"id": "m", "to": "a@0mn.io", "event": "failed"}, "'reason'"),
            ("notifications", {"to": "a@0mn.io", "event": "consumed"}, "'id'"),
        ],
    )
    def test_malformed_envelopes_are_400_and_not_processed(self, blip, emu, channel, envelope, complaint):
        response = blip.post(channel, envelope)
        assert response.status_code == 400
        assert complaint in response.json()["error"]
        [record] = emu.records()
        assert (record.outcome, record.processed) == ("bad_request", False)
        assert emu.messages() == []

    def test_observe_command_needs_no_id(self, blip):
        response = blip.post("commands", {"method": "observe", "uri": "/ping"})
        assert response.status_code == 202
        assert response.content == b""

    def test_posted_notification_is_accepted(self, blip, emu):
        response = blip.post(
            "notifications", {"id": "in-1", "to": "5511@wa.gw.msging.net", "event": "consumed"}
        )
        assert (response.status_code, response.content) == (202, b"")
        assert emu.records("notifications")[0].outcome == "ok"


class TestRouting:
    def test_unknown_path_is_404(self, blip, emu):
        assert blip.session.post(f"{emu.url}/command", json=PING).status_code == 404
        assert blip.session.post(f"{emu.url}/", json=PING).status_code == 404

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
    def test_other_methods_are_405(self, blip, emu, method):
        response = blip.session.request(method, f"{emu.url}/messages")
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"


class TestHttpLayer:
    def test_keep_alive_serves_sequential_requests_on_one_socket(self, emu):
        with socket.create_connection((emu.host, emu.port), timeout=3) as sock:
            for index in range(3):
                sock.sendall(_request("/commands", json.dumps({**PING, "id": f"k{index}"}).encode()))
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(1)
                assert head.startswith(b"HTTP/1.1 200 OK")
                assert b"Connection: keep-alive" in head
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                body = b""
                while len(body) < length:
                    body += sock.recv(length - len(body))
                assert json.loads(body)["id"] == f"k{index}"
        assert len(emu.records()) == 3

    def test_pipelined_requests_are_answered_in_order(self, blip):
        first = _request("/commands", json.dumps({**PING, "id": "first"}).encode())
        second = _request("/commands", json.dumps({**PING, "id": "second"}).encode())
        raw = blip.raw(first + second)
        assert raw.count(b"HTTP/1.1 200 OK") == 2
        assert raw.index(b'"first"') < raw.index(b'"second"')

    def test_connection_close_is_honoured(self, blip):
        raw, closed = blip.exchange(
            _request("/commands", json.dumps(PING).encode(), "Connection: close"), quiet=3
        )
        assert closed, "the server answered and then closed the connection itself"
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert b"Connection: close" in raw

    def test_http_1_0_closes_after_the_answer(self, blip):
        request = _request("/commands", json.dumps(PING).encode()).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        raw = blip.raw(request, quiet=3)
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert b"Connection: close" in raw

    def test_expect_100_continue_gets_an_interim_answer(self, emu):
        body = json.dumps(PING).encode()
        head = _request("/commands", b"", "Expect: 100-continue").replace(
            b"Content-Length: 0", b"Content-Length: %d" % len(body)
        )
        with socket.create_connection((emu.host, emu.port), timeout=3) as sock:
            sock.sendall(head)
            assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")

    def test_missing_content_length_is_411(self, blip):
        raw = blip.raw(b"POST /messages HTTP/1.1\r\nHost: x\r\n\r\n", quiet=3)
        assert raw.startswith(b"HTTP/1.1 411 ")

    def test_chunked_upload_is_411(self, blip):
        request = (
            b"POST /messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        assert blip.raw(request, quiet=3).startswith(b"HTTP/1.1 411 ")

    def test_body_above_max_body_bytes_is_413(self, blip, emu):
        emu.configure(max_body_bytes=200)
        response = blip.send("a@0mn.io", "x" * 500, id="big")
        assert response.status_code == 413
        assert emu.messages() == []
        # The next request on a fresh connection works.
        assert blip.post("commands", PING).status_code == 200

    @pytest.mark.parametrize(
        "garbage",
        [
            b"HELLO\r\n\r\n",
            b"GET /commands HTTP/9.9\r\n\r\n",
            b"POST /commands HTTP/1.1\r\nbad header line\r\n\r\n",
            b"POST /commands HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /commands HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"post /commands HTTP/1.1\r\n\r\n",
            b"\x00\x01\x02\r\n\r\n",
        ],
    )
    def test_malformed_http_gets_4xx_or_505_and_server_survives(self, blip, garbage):
        raw = blip.raw(garbage, quiet=3)
        status = int(raw[9:12])
        assert status in (400, 505)
        assert blip.post("commands", PING).status_code == 200

    def test_oversized_head_is_431(self, blip):
        raw = blip.raw(b"POST /commands HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", quiet=3)
        assert raw.startswith(b"HTTP/1.1 431 ")

    def test_client_disconnecting_mid_request_does_not_hurt(self, blip):
        blip.raw(b"POST /commands HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", quiet=0.05)
        assert blip.post("commands", PING).status_code == 200


class TestBinding:
    def test_non_loopback_host_is_refused(self):
        with pytest.raises(ValueError, match="allow_remote"):
            BlipEmulator(EmulatorConfig(), host="0.0.0.0")

    def test_allow_remote_lifts_the_check(self):
        # Constructed only: binding all interfaces is not wanted in tests.
        assert BlipEmulator(EmulatorConfig(), host="0.0.0.0", allow_remote=True).host == "0.0.0.0"

    def test_restart_after_stop(self):
        emu = BlipEmulator(EmulatorConfig())
        emu.start()
        emu.stop()
        emu.stop()  # idempotent
        emu.start()
        try:
            response = requests.post(
                f"{emu.url}/commands", json=PING, headers={"Authorization": "Key emulator-key"}
            )
            assert response.status_code == 200
            with pytest.raises(RuntimeError, match="already running"):
                emu.start()
        finally:
            emu.stop()

    def test_context_manager_starts_and_stops(self):
        with BlipEmulator(EmulatorConfig(key="k2")) as emu:
            url = emu.url
            response = requests.post(
                f"{url}/commands", json=PING, headers={"Authorization": "Key k2"}, timeout=5
            )
            assert response.json()["status"] == "success"
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{url}/commands", json=PING, timeout=2)
