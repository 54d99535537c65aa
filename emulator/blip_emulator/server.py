"""The public :class:`BlipEmulator`: an HTTP server on its own event-loop thread."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from typing import TYPE_CHECKING, Any

from blip_emulator.config import EmulatorConfig
from blip_emulator.engine import Engine
from blip_emulator.protocol import HttpProtocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from blip_emulator.records import ChannelStats, Record

#: Pending connections the listening socket queues; benchmarks open hundreds at once.
BACKLOG = 4096


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` names a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_event_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """Return a uvloop loop when uvloop is importable (faster), else a stock asyncio loop."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class BlipEmulator:
    """Emulate the Blip HTTP API (``/commands``, ``/messages``, ``/notifications``) on loopback.

    .. code-block:: python

        with BlipEmulator(EmulatorConfig(latency=0.05)) as emu:
            requests.post(f"{emu.url}/commands", json={...}, headers={"Authorization": f"Key {emu.key}"})

    :param config: Initial settings; defaults to :class:`EmulatorConfig` defaults.
    :param host: Address to bind; only loopback unless ``allow_remote``.
    :param port: Port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
    :param allow_remote: Allow a non-loopback ``host``. The emulator has no real security.
    :param use_uvloop: Use uvloop when it is installed.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        use_uvloop: bool = True,
    ) -> None:
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(
                f"refusing to bind {host!r}: the emulator only listens on loopback "
                "unless allow_remote=True (--allow-remote) is given"
            )
        self._engine = Engine(config or EmulatorConfig())
        # "localhost" may bind both 127.0.0.1 and ::1, each on its own port when port=0.
        self._host = "127.0.0.1" if host.lower() == "localhost" else host
        self._port = port
        self._use_uvloop = use_uvloop
        self._connections: set[HttpProtocol] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> BlipEmulator:
        """Start serving on a background thread; return once the socket listens."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        config = self._engine.config
        self._engine.recorder.set_output(config.max_records, config.record_path)
        self._ready.clear()
        self._error = None
        thread = threading.Thread(target=self._run, name="blip-emulator", daemon=True)
        thread.start()
        self._ready.wait()
        if self._error is not None:
            thread.join()
            raise self._error
        self._thread = thread
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = self._loop = None
        self._engine.recorder.close()

    def __enter__(self) -> BlipEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = new_event_loop(self._use_uvloop)
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(
                loop.create_server(
                    lambda: HttpProtocol(self._engine, self._connections),
                    self._host,
                    self._port,
                    backlog=BACKLOG,
                    reuse_address=True,
                )
            )
        except BaseException as error:  # reported to start(), which re-raises it in the caller
            self._error = error
            loop.close()
            self._ready.set()
            return
        self._port = int(server.sockets[0].getsockname()[1])
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for connection in list(self._connections):
                connection.abort()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    # -- addresses --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """Return the bound host."""
        return self._host

    @property
    def port(self) -> int:
        """Return the bound port (the real one once started with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:8080`` (no trailing slash)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def key(self) -> str:
        """Return the accepted bot key (the value after ``Authorization: Key``)."""
        return self._engine.config.key

    @property
    def bot_identity(self) -> str:
        """Return the bot identity, ``<bot_id>@msging.net``."""
        return self._engine.bot_identity

    @property
    def config(self) -> EmulatorConfig:
        """Return the current settings snapshot."""
        return self._engine.config

    # -- control and inspection (thread-safe) -----------------------------------------------------
    def configure(self, **knobs: Any) -> EmulatorConfig:
        """Change any :class:`EmulatorConfig` knob while running; return the new settings.

        :raises ValueError: For an unknown knob name or an invalid value.
        """
        return self._engine.configure(**knobs)

    def records(self, channel: str | None = None) -> list[Record]:
        """Return a snapshot of the records, optionally of one channel."""
        return self._engine.recorder.records(channel)

    def stats(self) -> dict[str, Any]:
        """Return counters: requests per channel, responses by status, refused, dropped, faults.

        ``stats()["channels"]`` holds :meth:`channel_stats` as plain dicts.
        """
        return self._engine.recorder.stats()

    def channel_stats(self) -> dict[str, ChannelStats]:
        """Return what each channel saw at arrival since the last reset, e.g. to check a client.

        .. code-block:: python

            messages = emu.channel_stats()["messages"]
            assert messages.max_in_window <= 50 and messages.refused == 0
        """
        return self._engine.channel_stats()

    def reset(self) -> None:
        """Clear state, records and counters; keep the settings."""
        self._engine.reset()

    def add_contacts(
        self,
        contacts: int | Iterable[Mapping[str, Any]],
        *,
        source: str = "WhatsApp",
        start: int | None = None,
    ) -> list[str]:
        """Seed contacts for paging tests; return their identities.

        :param contacts: How many to generate, or explicit contact dicts (each with ``identity``).
        :param source: ``source`` of generated contacts.
        :param start: Index of the first generated contact; by default the one after the last
            generated, so repeated calls add new contacts. Contact ``i`` is
            ``55119<i:08d>@wa.gw.msging.net``, named ``Contact <i>``, with ``lastMessageDate``
            2024-01-01T00:00Z plus ``i`` minutes. Generated contacts also join the ``+senders`` list.
        """
        return self._engine.add_contacts(contacts, source=source, start=start)

    def contexts(self, identity: str) -> dict[str, Any]:
        """Return the context variables of a user (names lowercased) and their values."""
        result: dict[str, Any] = self._engine.inspect("contexts", identity)
        return result

    def list_members(self, list_identity: str) -> list[str] | None:
        """Return the members of a distribution list, or ``None`` if it does not exist."""
        result: list[str] | None = self._engine.inspect("lists", list_identity)
        return result

    def messages(self) -> list[dict[str, Any]]:
        """Return every message stored so far: ``id``, ``to`` and ``received_at``."""
        result: list[dict[str, Any]] = self._engine.inspect("messages")
        return result

    def campaigns(self) -> list[dict[str, Any]]:
        """Return every Active Campaign stored so far: ``id``, ``name``, ``status``, ``recipients``."""
        result: list[dict[str, Any]] = self._engine.inspect("campaigns")
        return result

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return f"<BlipEmulator {self.url} {state}>"
