"""Fixtures for the emulator's own tests: a fast emulator and a tiny Blip HTTP client."""

from __future__ import annotations

import itertools
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from collections.abc import Callable

    from blip_emulator.server import BlipEmulator

__all__ = ["BlipClient"]

#: Tiny delivery delays keep the notification tests fast.
FAST_DELAYS = {"accepted": 0.0, "dispatched": 0.03, "received": 0.06, "consumed": 0.09}
WA = "wa.gw.msging.net"


class BlipClient:
    """A minimal Blip HTTP client over ``requests``, as a hook would be."""

    _ids = itertools.count()

    def __init__(self, emulator: BlipEmulator) -> None:
        self.emulator = emulator
        self.url = emulator.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Key {emulator.key}"

    def post(self, channel: str, envelope: Any, **kwargs: Any) -> requests.Response:
        return self.session.post(f"{self.url}/{channel}", json=envelope, timeout=10, **kwargs)

    def command(self, method: str, uri: str, to: str | None = None, **extra: Any) -> dict[str, Any]:
        envelope = {"id": f"cmd-{next(self._ids)}", "method": method, "uri": uri, **extra}
        if to is not None:
            envelope["to"] = to
        response = self.post("commands", envelope)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["id"] == envelope["id"]
        return body

    def send(
        self, to: str, content: Any = "hello", type: str = "text/plain", **extra: Any
    ) -> requests.Response:
        return self.post("messages", {"to": to, "type": type, "content": content, **extra})

    def notifications(self, message_id: str) -> list[dict[str, Any]]:
        body = self.command("get", f"/notifications?id={message_id}", to="postmaster@msging.net")
        assert body["status"] == "success"
        items: list[dict[str, Any]] = body["resource"]["items"]
        return items

    def wait_for(
        self, message_id: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 3.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.notifications(message_id)
            if done(items) or time.monotonic() > deadline:
                return items
            time.sleep(0.02)

    @staticmethod
    def events(items: list[dict[str, Any]]) -> list[str]:
        return [item["event"] for item in items]

    def raw(self, data: bytes, quiet: float = 0.5) -> bytes:
        """Send raw bytes on a new connection; read until the server closes or is quiet for ``quiet`` s."""
        return self.exchange(data, quiet)[0]

    def exchange(self, data: bytes, quiet: float = 0.5) -> tuple[bytes, bool]:
        """Like :meth:`raw`, and also tell whether the server closed the connection itself."""
        closed = False
        with socket.create_connection((self.emulator.host, self.emulator.port), timeout=3) as sock:
            sock.sendall(data)
            chunks = []
            sock.settimeout(quiet)
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                closed = True  # recv returned b"": the server closed
            except TimeoutError:
                pass
        return b"".join(chunks), closed


@pytest.fixture
def emu(blip_emulator_factory: Callable[..., BlipEmulator]) -> BlipEmulator:
    return blip_emulator_factory(delivery_delays=FAST_DELAYS)


@pytest.fixture
def blip(emu: BlipEmulator) -> BlipClient:
    return BlipClient(emu)
