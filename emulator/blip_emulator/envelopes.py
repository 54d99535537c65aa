"""Validate envelopes per endpoint and process the accepted ones (docs/blip-api-facts.md §1.3, §2)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from blip_emulator import commands
from blip_emulator.delivery import plan_direct, plan_list
from blip_emulator.lime import BROADCAST_DOMAIN, EVENTS, METHODS, bare, split_identity

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig
    from blip_emulator.state import Store

#: Posted notifications kept for inspection (they affect nothing else).
MAX_POSTED_NOTIFICATIONS = 10_000


def validate(channel: str, envelope: dict[str, Any]) -> str | None:
    """Return why Blip would answer 400 Bad Request, or ``None`` if the envelope is well formed."""
    if envelope.get("id") is not None and not isinstance(envelope["id"], str):
        return "id must be a string"
    if envelope.get("to") is not None and not isinstance(envelope["to"], str):
        return "to must be a string"
    if channel == "messages":
        return _validate_message(envelope)
    if channel == "notifications":
        return _validate_notification(envelope)
    return _validate_command(envelope)


def _validate_message(envelope: dict[str, Any]) -> str | None:
    if not envelope.get("to"):
        return "A message needs 'to'"
    if not isinstance(envelope.get("type"), str) or not envelope["type"]:
        return "A message needs a MIME 'type'"
    if "content" not in envelope:
        return "A message needs 'content'"
    return None


def _validate_notification(envelope: dict[str, Any]) -> str | None:
    if not envelope.get("id"):
        return "A notification needs the 'id' of the message it refers to"
    if not envelope.get("to"):
        return "A notification needs 'to'"
    if envelope.get("event") not in EVENTS:
        return f"A notification needs an 'event' among {', '.join(sorted(EVENTS))}"
    if envelope["event"] == "failed" and not isinstance(envelope.get("reason"), dict):
        return "A failed notification needs a 'reason'"
    return None


def _validate_command(envelope: dict[str, Any]) -> str | None:
    method = envelope.get("method")
    if method not in METHODS:
        return f"A command needs a 'method' among {', '.join(sorted(METHODS))}"
    if not isinstance(envelope.get("uri"), str) or not envelope["uri"]:
        return "A command needs a 'uri'"
    if method != "observe" and not envelope.get("id"):
        return "A command needs an 'id' (only observe may omit it)"
    return None


def process(
    channel: str, envelope: dict[str, Any], store: Store, config: EmulatorConfig, now: float
) -> tuple[int, bytes, str]:
    """Apply a valid envelope to ``store``; return ``(HTTP status, body, outcome)``."""
    if channel == "messages":
        _send_message(envelope, store, config, now)
        return 202, b"", "ok"
    if channel == "notifications":
        if len(store.posted_notifications) < MAX_POSTED_NOTIFICATIONS:
            store.posted_notifications.append(envelope)
        return 202, b"", "ok"
    response = commands.execute(envelope, store, config, now)
    if envelope["method"] == "observe":
        # Observe commands get no response envelope in LIME; the emulator just accepts them.
        return 202, b"", "ok"
    body = json.dumps(response, separators=(",", ":")).encode()
    return 200, body, "ok" if response["status"] == "success" else "failure"


def _send_message(envelope: dict[str, Any], store: Store, config: EmulatorConfig, now: float) -> None:
    to = str(envelope["to"])
    message_id = envelope.get("id")
    _, domain = split_identity(to)
    if domain.lower() == BROADCAST_DOMAIN:
        members = store.members(bare(to))
        recipients = None if members is None else list(members.values())
        message = plan_list(message_id, to, envelope["content"], recipients, config, now)
    else:
        message = plan_direct(message_id, to, envelope["content"], config, now)
    store.add_message(message)
