"""A minimal HTTP/1.1 server protocol on :class:`asyncio.Protocol`.

Enough for python-requests, httpx and urllib: keep-alive and pipelining (answered in order),
``Content-Length`` bodies only (``Transfer-Encoding`` gets 411), ``Connection: close`` and
HTTP/1.0. Malformed input gets a 4xx and the connection is closed; nothing here raises into the
event loop. A request may be held before the app sees it (arrival jitter), and its answer
delayed after, both with a loop timer (``call_later``, the mechanism behind ``asyncio.sleep``),
so hundreds of slow requests cost no threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import json
import logging
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: Largest request line plus headers accepted (431 above).
MAX_HEAD_BYTES = 64 * 1024
#: Bodies above this are refused at once instead of being read and discarded.
MAX_DISCARD_BYTES = 64 * 1024 * 1024
#: Stop reading a connection that pipelines more than this while a request is pending.
MAX_BUFFERED_BYTES = 4 * 1024 * 1024
_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


@dataclasses.dataclass(slots=True)
class Request:
    """One parsed HTTP request.

    :param method: Upper-case method.
    :param path: Path part of the target, not decoded.
    :param query: Query string (without ``?``), not decoded.
    :param headers: Header names lower-cased.
    :param body: Raw body.
    :param peer: Client IP address.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer: str


@dataclasses.dataclass(slots=True)
class Reply:
    """What to answer, and when.

    :param status: HTTP status; 0 closes the connection without answering.
    :param body: Response body (sent as JSON when not empty).
    :param headers: Extra headers.
    :param delay: Seconds to wait before answering (or dropping).
    :param close: Close the connection after answering.
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    close: bool = False


def json_reply(status: int, payload: Any, **kwargs: Any) -> Reply:
    """Return a reply with a compact JSON body; ``kwargs`` go to :class:`Reply`."""
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), **kwargs)


class App(Protocol):
    """What the protocol needs from the application."""

    @property
    def max_body_bytes(self) -> int: ...

    def arrival_hold(self, request: Request) -> float: ...

    def handle(self, request: Request) -> Reply: ...

    def protocol_error(self, path: str | None, status: int, message: str) -> Reply: ...


class _BadRequest(Exception):
    """A request that cannot be parsed; ``status`` is what to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def encode_reply(reply: Reply, keep_alive: bool) -> bytes:
    """Serialise a reply with ``Content-Length`` and a ``Connection`` header."""
    lines = [
        f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}",
        f"Content-Length: {len(reply.body)}",
        "Server: blip-emulator",
        "Connection: keep-alive" if keep_alive else "Connection: close",
    ]
    if reply.body:
        lines.append("Content-Type: application/json; charset=utf-8")
    lines.extend(f"{name}: {value}" for name, value in reply.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Parse a request line and headers; return ``(method, target, version, headers)``.

    :raises _BadRequest: With the status to answer (400 or 505).
    """
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise _BadRequest(400, "malformed request line")
    method, target, version = parts
    if not method.isalpha() or not method.isupper():
        raise _BadRequest(400, "invalid method")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505 if version.startswith("HTTP/") else 400, "unsupported HTTP version")
    return method, _origin_form(target), version, _parse_headers(lines[1:])


def _origin_form(target: str) -> str:
    if target.startswith("/"):
        return target
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    raise _BadRequest(400, "invalid request target")


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        # Whitespace around the name (including obsolete line folding) is a 400 (RFC 9112 §5).
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "malformed header line")
        key, value = name.lower(), value.strip(" \t")
        if key in headers:
            if key == "content-length" and headers[key] != value:
                raise _BadRequest(400, "conflicting Content-Length headers")
            if key != "content-length":
                value = f"{headers[key]}, {value}"
        headers[key] = value
    return headers


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class HttpProtocol(asyncio.Protocol):
    """One client connection: parse requests, ask the app, write replies in order.

    :param app: Answers requests.
    :param connections: Registry of open connections, so the server can close them on stop.
    """

    def __init__(self, app: App, connections: set[HttpProtocol]) -> None:
        self._app = app
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._peer = ""
        self._busy = False
        self._closing = False
        self._reading_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._discard = 0
        self._discard_path = ""
        self._eof = False
        self._continued = False

    # -- asyncio callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else ""
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._buffer += data
        if not self._busy:
            self._process()
        elif len(self._buffer) > MAX_BUFFERED_BYTES:
            self._pause_reading()

    def eof_received(self) -> bool | None:
        # A half-closed client still gets the pending answer; the connection closes after it.
        self._eof = True
        return True if self._busy else None

    def pause_writing(self) -> None:
        self._pause_reading()

    def resume_writing(self) -> None:
        self._resume_reading()

    def abort(self) -> None:
        """Drop the connection now (server shutdown)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # -- request loop -----------------------------------------------------------------------
    def _process(self) -> None:
        while not self._busy and not self._closing:
            parsed = self._next_request()
            if parsed is None:
                return
            request, keep_alive = parsed
            hold = self._app.arrival_hold(request)
            if hold > 0:
                # Busy until it arrives, so later pipelined requests wait and answers stay in
                # order. Not kept in self._timer: the request was sent, so it arrives even if
                # its client goes away meanwhile, as it would over a real network.
                self._busy = True
                asyncio.get_running_loop().call_later(hold, self._arrive, request, keep_alive)
                return
            self._respond(request, keep_alive)

    def _respond(self, request: Request, keep_alive: bool) -> None:
        reply = self._answer(request)
        if self._closing:
            return  # processed, but nobody is left to answer
        if reply.delay > 0:
            self._busy = True
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(reply.delay, self._deliver, reply, keep_alive)
        else:
            self._send(reply, keep_alive and not self._eof)

    def _arrive(self, request: Request, keep_alive: bool) -> None:
        self._busy = False
        self._respond(request, keep_alive)
        self._continue()

    def _deliver(self, reply: Reply, keep_alive: bool) -> None:
        self._timer = None
        self._busy = False
        self._send(reply, keep_alive and not self._eof)
        self._continue()

    def _continue(self) -> None:
        if not self._busy and not self._closing:
            self._resume_reading()
            if self._buffer:
                self._process()

    def _answer(self, request: Request) -> Reply:
        try:
            return self._app.handle(request)
        except Exception:
            log.exception("Blip emulator failed on %s %s", request.method, request.path)
            return Reply(500, b'{"error":"emulator internal error"}')

    def _send(self, reply: Reply, keep_alive: bool) -> None:
        if self._closing or self._transport is None:
            return
        if reply.status == 0:
            self._close()
            return
        keep = keep_alive and not reply.close
        self._transport.write(encode_reply(reply, keep))
        if not keep:
            self._close()

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _fail(self, path: str | None, status: int, message: str) -> None:
        self._send(self._app.protocol_error(path, status, message), keep_alive=False)

    # -- parsing ----------------------------------------------------------------------------
    def _next_request(self) -> tuple[Request, bool] | None:
        if self._discard:
            self._discard_body()
            return None
        buffer = self._buffer
        # Stray CRLFs between requests are allowed (RFC 9112 §2.2).
        while buffer[:2] == b"\r\n":
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD_BYTES:
            if len(buffer) > MAX_HEAD_BYTES:
                self._fail(None, 431, "request head too large")
            return None
        try:
            method, target, version, headers = parse_head(bytes(buffer[:end]))
        except _BadRequest as error:
            self._fail(None, error.status, str(error))
            return None
        path, _, query = target.partition("?")
        length = self._content_length(method, path, headers)
        if length is None:
            return None
        if length > self._app.max_body_bytes:
            self._start_discard(path, end + 4, length)
            return None
        total = end + 4 + length
        if len(buffer) < total:
            self._send_continue(headers)
            return None
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        self._continued = False
        request = Request(method, path, query, headers, body, self._peer)
        return request, _keep_alive(version, headers)

    def _send_continue(self, headers: dict[str, str]) -> None:
        # curl sends "Expect: 100-continue" for larger bodies and waits for this interim answer.
        if not self._continued and headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._continued = True
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _content_length(self, method: str, path: str, headers: dict[str, str]) -> int | None:
        if "transfer-encoding" in headers:
            self._fail(path, 411, "Transfer-Encoding is not supported; send a Content-Length body")
            return None
        text = headers.get("content-length")
        if text is None:
            # ``curl -X POST .../_emulator/reset`` sends no body and no length: an empty body.
            if method in ("POST", "PUT", "PATCH") and not path.startswith("/_emulator/"):
                self._fail(path, 411, "Content-Length is required")
                return None
            return 0
        if not text.isdigit():
            self._fail(path, 400, "invalid Content-Length")
            return None
        return int(text)

    def _start_discard(self, path: str, head_size: int, length: int) -> None:
        if length > MAX_DISCARD_BYTES:
            self._fail(path, 413, "request body too large")
            return
        # Read and throw away the body first, so the client is able to read the 413.
        del self._buffer[:head_size]
        self._discard, self._discard_path = length, path
        self._discard_body()

    def _discard_body(self) -> None:
        count = min(self._discard, len(self._buffer))
        del self._buffer[:count]
        self._discard -= count
        if self._discard == 0:
            self._fail(self._discard_path, 413, "request body too large")

    # -- flow control -----------------------------------------------------------------------
    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None and not self._closing:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None and not self._closing:
            self._reading_paused = False
            self._transport.resume_reading()
