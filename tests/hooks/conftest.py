"""A second, dumber HTTP server for answers the emulator never gives (a 403, a counted 404)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class StatusServer:
    """Answer every request on loopback with one HTTP status, holding it ``hold`` seconds.

    The hold keeps the first request in flight while other threads call, so that a test
    sees whether they waited for its answer or sent their own.
    """

    def __init__(self, status: int, hold: float = 0.2) -> None:
        self.status = status
        self.hold = hold
        self.paths: list[str] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.paths.append(self.path)
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                time.sleep(server.hold)
                with server._lock:
                    server._in_flight -= 1
                # A 200 is a successful command answer; anything else an error body.
                answer = {"status": "success", "method": "get"} if server.status == 200 else {"error": "no"}
                body = json.dumps(answer).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 resets parallel connections

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.paths)

    def __enter__(self) -> StatusServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def status_server():
    """Start :class:`StatusServer` instances on demand; stop them after the test."""
    started: list[StatusServer] = []

    def start(status: int, hold: float = 0.2) -> StatusServer:
        server = StatusServer(status, hold).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
