"""The emulator's request pipeline, independent of sockets and threads.

A request on ``/commands``, ``/messages`` or ``/notifications`` is first held for its
``arrival_jitter`` (see :meth:`Engine.arrival_hold`; the HTTP layer waits on a loop timer). Then
it arrives, and the order is: auth (401), ``Content-Type`` (400), JSON object body (400), rate
limit or lockout (429, not processed), fault draw (error or drop: not processed), envelope
validation (400), processing, then ``drop_after`` or ``slow`` faults. Every answer waits
``latency`` (+ jitter) first.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from blip_emulator import admin, campaigns, envelopes, schedules
from blip_emulator.config import CHANNELS, EmulatorConfig
from blip_emulator.faults import Fault, FaultInjector
from blip_emulator.lime import SERVER_DOMAIN
from blip_emulator.limits import RateLimits, Refusal
from blip_emulator.protocol import Reply, Request, json_reply
from blip_emulator.records import ChannelStats, Record, Recorder
from blip_emulator.state import Store, list_identity

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_CHANNEL_OF_PATH = {f"/{channel}": channel for channel in CHANNELS}
#: Knobs whose change rebuilds every channel's limiter (empty windows, no lockout).
_LIMIT_KNOBS = ("rate_limits", "rate_model", "lockout_seconds")


class Engine:
    """Thread-safe core: state, settings, faults and records behind one lock.

    :param config: Initial settings.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.RLock()
        self._config = config
        self._store = Store(config.bot_id, max_messages=config.max_messages)
        self._faults = FaultInjector(config)
        self._limits = RateLimits(config)
        self.recorder = Recorder(config.max_records, config.record_path)

    @property
    def config(self) -> EmulatorConfig:
        """Return the current settings snapshot."""
        return self._config

    @property
    def max_body_bytes(self) -> int:
        """Return the largest request body accepted."""
        return self._config.max_body_bytes

    @property
    def bot_identity(self) -> str:
        """Return ``<bot_id>@msging.net``."""
        return f"{self._config.bot_id}@{SERVER_DOMAIN}"

    # -- control (any thread) ---------------------------------------------------------------
    def configure(self, **knobs: Any) -> EmulatorConfig:
        """Change knobs atomically; unknown names raise ``ValueError``."""
        with self._lock:
            old, new = self._config, self._config.replace(**knobs)
            self._config = new
            if new.seed != old.seed:
                self._faults.reset(new)
            if any(getattr(new, name) != getattr(old, name) for name in _LIMIT_KNOBS):
                self._limits = RateLimits(new)
            if new.bot_id != old.bot_id:
                self._store.bot_id = new.bot_id
                self._store.create_list(self._store.senders_list)
            self._store.max_messages = new.max_messages
            self.recorder.set_output(new.max_records, new.record_path)
            return new

    def reset(self) -> None:
        """Clear state, records and counters; reseed; keep the settings."""
        with self._lock:
            self._store = Store(self._config.bot_id, max_messages=self._config.max_messages)
            self._faults.reset(self._config)
            self._limits = RateLimits(self._config)
            self.recorder.clear()

    def add_contacts(
        self,
        contacts: int | Iterable[Mapping[str, Any]],
        *,
        source: str = "WhatsApp",
        start: int | None = None,
    ) -> list[str]:
        """Seed contacts: a count to generate, or explicit contact dicts; return the identities."""
        with self._lock:
            if isinstance(contacts, int):
                return self._store.generate_contacts(contacts, source=source, start=start)
            return self._store.add_contacts(contacts)

    def inspect(self, what: str, key: str = "") -> Any:
        """Return a JSON-friendly copy of part of the state (contexts, lists, messages, campaigns)."""
        with self._lock:
            store = self._store
            # What Blip would have done by now shows in the state, as it does to commands.
            campaigns.advance(store, self._config, time.time())
            schedules.advance(store, self._config, time.time())
            if what == "contexts":
                return {name: value for name, (_, value) in store.context_of(key).items()}
            if what == "lists":
                members = store.members(list_identity(key))
                return None if members is None else list(members.values())
            if what == "campaigns":
                return [
                    {"id": c.id, "name": c.name, "status": c.status, "recipients": len(c.recipients)}
                    for c in store.campaigns.values()
                ]
            return [{"id": m.id, "to": m.to, "received_at": m.received_at} for m in store.messages]

    def channel_stats(self) -> dict[str, ChannelStats]:
        """Return each channel's arrival counters (``max_in_window``, ``refused``, ``lockouts``)."""
        return self.recorder.channel_stats()

    # -- requests (event-loop thread) ------------------------------------------------------------
    def arrival_hold(self, request: Request) -> float:
        """Return how long the HTTP layer holds ``request`` before :meth:`handle` (Blip endpoints only)."""
        config = self._config
        if config.arrival_jitter <= 0 or request.path not in _CHANNEL_OF_PATH:
            return 0.0
        with self._lock:
            return self._faults.arrival_hold(config)

    def handle(self, request: Request) -> Reply:
        """Answer one HTTP request; for a Blip endpoint, this is the moment it arrives."""
        if request.path.startswith("/_emulator/"):
            return admin.handle(self, request)
        channel = _CHANNEL_OF_PATH.get(request.path)
        if channel is None:
            return json_reply(
                404, {"error": f"no such endpoint {request.path}; use /commands, /messages, /notifications"}
            )
        arrived_at = time.monotonic()
        self.recorder.count_request(channel, arrived_at)
        if request.method != "POST":
            reply = json_reply(405, {"error": "only POST is allowed"}, headers=(("Allow", "POST"),))
            self.recorder.count_response(channel, 405)
            return reply
        with self._lock:
            return self._blip(channel, request, self._config, arrived_at)

    def protocol_error(self, path: str | None, status: int, message: str) -> Reply:
        """Answer a request the HTTP layer could not read (400, 411, 413, 431, 505)."""
        channel = _CHANNEL_OF_PATH.get(path or "")
        if channel is not None:
            self.recorder.count_request(channel, time.monotonic())
            self.recorder.count_response(channel, status)
        return json_reply(status, {"error": message}, close=True)

    def _blip(self, channel: str, request: Request, config: EmulatorConfig, arrived_at: float) -> Reply:
        now = time.time()
        envelope = _parse_object(request.body)
        delay = self._faults.latency(config)

        def finish(reply: Reply, outcome: str, fault: Fault = Fault.NONE, processed: bool = False) -> Reply:
            reply.delay += delay
            self.recorder.count_response(channel, reply.status, None if fault is Fault.NONE else fault.value)
            if envelope is not None:
                self.recorder.add(Record(channel, envelope, reply.status, now, outcome, processed))
            return reply

        if not _authorized(request.headers.get("authorization", ""), config.key):
            return finish(Reply(401), "unauthorized")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return finish(json_reply(400, {"error": "Content-Type must be application/json"}), "bad_request")
        if envelope is None:
            return finish(
                json_reply(400, {"error": "The body must be a JSON object (an envelope)"}), "bad_request"
            )
        refusal = self._limits.check(channel, arrived_at, now)
        if refusal is not None:
            return finish(self._refuse(channel, refusal), "rate_limited")
        fault = self._faults.draw(channel, config)
        if fault is Fault.ERROR:
            status = self._faults.error_status()
            return finish(json_reply(status, {"error": "injected fault"}), "server_error", fault)
        if fault is Fault.DROP:
            return finish(Reply(0), "dropped", fault)
        problem = envelopes.validate(channel, envelope)
        if problem:
            return finish(json_reply(400, {"error": problem}), "bad_request")
        status, body, outcome = envelopes.process(channel, envelope, self._store, config, now)
        if fault is Fault.DROP_AFTER:
            return finish(Reply(0), "dropped", fault, processed=True)
        slow = config.slow_seconds if fault is Fault.SLOW else 0.0
        return finish(Reply(status, body, delay=slow), outcome, fault, processed=True)

    def _refuse(self, channel: str, refusal: Refusal) -> Reply:
        if refusal.lockout_started:
            self.recorder.count_lockout(channel)
        if refusal.locked_out:
            error = f"{channel} is locked out after going over its rate limit"
        else:
            error = f"rate limit of {channel} exceeded"
        body = {"error": error, "retryAfter": refusal.retry_after}
        return json_reply(429, body, headers=(("Retry-After", str(refusal.retry_after)),))


def _authorized(header: str, key: str) -> bool:
    # "Authorization: Key <token>" (docs/blip-api-facts.md §1.2); the scheme name is case-insensitive in HTTP.
    scheme, _, token = header.strip().partition(" ")
    return scheme.lower() == "key" and token.strip() == key


def _parse_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
