"""Delivery of sent messages: the notification events each message will produce, and when.

The whole timeline is planned once, when the message arrives; reads filter it by elapsed time,
so no timers run (docs/blip-api-facts.md §8.1). Events come from several hops, like the real platform:
the server (``postmaster@msging.net``), the gateway (``postmaster@wa.gw.msging.net``) and the
recipient node, so clients must reduce them to the furthest event.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from blip_emulator import directory, templates
from blip_emulator.lime import (
    BROADCAST_DOMAIN,
    DESTINATION_NOT_FOUND,
    PROCESSING_ERROR,
    SERVER_DOMAIN,
    WHATSAPP_DOMAIN,
    bare,
    postmaster,
    split_identity,
)

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig

#: Notifications older than this are no longer returned (docs/blip-api-facts.md §8.1: 3 days).
RETENTION_SECONDS = 3 * 24 * 3600.0
#: How far each event goes, to summarise a list member (docs/blip-api-facts.md §8.1 reduction order).
_RANK = {"accepted": 1, "dispatched": 2, "received": 3, "consumed": 4, "failed": 5}


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One notification a message will produce.

    :param offset: Seconds after receipt at which it becomes visible.
    :param sender: The ``from`` of the notification.
    :param event: LIME event name.
    :param reason: ``(code, description)`` of a ``failed`` event.
    """

    offset: float
    sender: str
    event: str
    reason: tuple[int, str] | None = None


@dataclasses.dataclass(slots=True)
class SentMessage:
    """A message accepted on ``/messages`` with its planned notifications.

    :param id: Envelope id; ``None`` means no notifications are ever produced.
    :param to: Destination as sent.
    :param received_at: ``time.time()`` of receipt.
    :param events: Planned events of the message itself (list-level for list sends).
    :param members: For list sends, each member's planned events (``from`` is the list node).
    """

    id: str | None
    to: str
    received_at: float
    events: tuple[PlannedEvent, ...]
    members: dict[str, tuple[PlannedEvent, ...]] = dataclasses.field(default_factory=dict)

    def all_events(self) -> list[PlannedEvent]:
        """Return message-level then member events, sorted by offset (stable)."""
        events = list(self.events)
        for member_events in self.members.values():
            events.extend(member_events)
        return sorted(events, key=lambda ev: ev.offset)


def template_problem(content: Any) -> str | None:
    """Return why a WhatsApp template content is malformed, or ``None`` (docs/blip-api-facts.md §4).

    Only ``template.name`` and ``template.language.code`` are required; ``namespace`` is optional.
    """
    if not isinstance(content, dict) or content.get("type") != "template":
        return None
    template = content.get("template")
    if not isinstance(template, dict):
        return "Invalid template: content.template must be an object"
    if not isinstance(template.get("name"), str) or not template["name"]:
        return "Invalid template: template.name is required"
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not language["code"]:
        return "Invalid template: template.language.code is required"
    return None


def plan_direct(
    message_id: str | None, to: str, content: Any, config: EmulatorConfig, now: float
) -> SentMessage:
    """Plan a message sent to a single identity, received at ``now``."""
    problem = template_problem(content) or templates.registry_problem(content, config)
    events = _direct_events(message_id, bare(to), problem, config)
    return SentMessage(message_id, to, now, events)


def plan_list(
    message_id: str | None,
    to: str,
    content: Any,
    members: list[str] | None,
    config: EmulatorConfig,
    now: float,
) -> SentMessage:
    """Plan a message sent to ``<list>@broadcast.msging.net``, received at ``now`` (facts §7).

    :param members: Current members, or ``None`` when the list does not exist.
    """
    delays = config.delivery_delays
    server, extension = postmaster(SERVER_DOMAIN), postmaster(BROADCAST_DOMAIN)
    problem = template_problem(content) or templates.registry_problem(content, config)
    accepted = PlannedEvent(delays["accepted"], server, "accepted")
    if members is None or problem:
        reason = (PROCESSING_ERROR, problem) if problem else (DESTINATION_NOT_FOUND, "Destination not found")
        failed = PlannedEvent(delays["dispatched"], server, "failed", reason)
        return SentMessage(message_id, to, now, (accepted, failed))
    # The extension itself reports received/consumed once it has fanned the message out.
    level = (
        accepted,
        PlannedEvent(delays["accepted"], extension, "accepted"),
        PlannedEvent(delays["dispatched"], extension, "received"),
        PlannedEvent(delays["dispatched"], extension, "consumed"),
    )
    planned = {member: _member_events(message_id, bare(to), member, config) for member in members}
    return SentMessage(message_id, to, now, level, planned)


def notification_items(message: SentMessage, bot_identity: str, now: float) -> list[dict[str, Any]]:
    """Return the notifications of ``message`` that have happened by ``now``, oldest first."""
    if message.id is None:
        return []
    items = []
    for event in message.all_events():
        at = message.received_at + event.offset
        if at <= now and now - at <= RETENTION_SECONDS:
            items.append(_notification(message, event, at, bot_identity))
    return items


def list_message_stats(message: SentMessage, now: float) -> dict[str, Any]:
    """Summarise a list send as ``application/vnd.iris.distribution-list-message+json`` (facts §7)."""
    furthest = [_furthest(message, events, now) for events in message.members.values()]
    last_offset = max((ev.offset for ev in message.all_events()), default=0.0)
    done = now >= message.received_at + last_offset
    return {
        "id": message.id,
        "status": "processed" if done else "processing",
        "statusDate": iso_time(min(now, message.received_at + last_offset)),
        "recipients": len(furthest),
        "sent": sum(1 for rank in furthest if _RANK["dispatched"] <= rank <= _RANK["consumed"]),
        "received": sum(1 for rank in furthest if rank in (_RANK["received"], _RANK["consumed"])),
        "consumed": sum(1 for rank in furthest if rank == _RANK["consumed"]),
        "failed": sum(1 for rank in furthest if rank == _RANK["failed"]),
    }


def iso_time(at: float) -> str:
    """Format a UNIX time as Blip does: ISO 8601, milliseconds, ``Z``."""
    stamp = datetime.datetime.fromtimestamp(at, datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _direct_events(
    message_id: str | None, to: str, problem: str | None, config: EmulatorConfig
) -> tuple[PlannedEvent, ...]:
    delays = config.delivery_delays
    server = postmaster(SERVER_DOMAIN)
    accepted = PlannedEvent(delays["accepted"], server, "accepted")
    if problem:
        return accepted, PlannedEvent(delays["dispatched"], server, "failed", (PROCESSING_ERROR, problem))
    name, domain = split_identity(to)
    domain = domain.lower()
    hop = postmaster(domain) if domain and domain != SERVER_DOMAIN else server
    events = [accepted]
    if hop != server:
        events.append(PlannedEvent(delays["accepted"], hop, "accepted"))
    failure = _destination_failure(name, domain, config)
    if failure:
        events.append(PlannedEvent(delays["dispatched"], hop, "failed", failure))
        return tuple(events)
    events.append(PlannedEvent(delays["dispatched"], server, "dispatched"))
    events.append(PlannedEvent(delays["received"], to, "received"))
    if _is_read(message_id, to, config):
        events.append(PlannedEvent(delays["consumed"], to, "consumed"))
    return tuple(events)


def _member_events(
    message_id: str | None, list_identity: str, member: str, config: EmulatorConfig
) -> tuple[PlannedEvent, ...]:
    # Member notifications are forwarded with the member encoded in the instance (MHDOCS, §7).
    sender = f"{list_identity}/{quote(member, safe='')}"
    seen: set[str] = set()
    events = []
    for event in _direct_events(message_id, member, None, config):
        if event.event not in seen:
            seen.add(event.event)
            events.append(dataclasses.replace(event, sender=sender))
    return tuple(events)


def _destination_failure(name: str, domain: str, config: EmulatorConfig) -> tuple[int, str] | None:
    if not name or not domain:
        return DESTINATION_NOT_FOUND, "Destination not found"
    if domain == WHATSAPP_DOMAIN:
        return directory.delivery_failure(name, config)
    return None


def _is_read(message_id: str | None, recipient: str, config: EmulatorConfig) -> bool:
    if config.read_ratio >= 1.0:
        return True
    # Seeded per message and recipient so the split does not depend on arrival order.
    draw = random.Random(f"{config.seed}:{message_id}:{recipient}").random()
    return draw < config.read_ratio


def _furthest(message: SentMessage, events: tuple[PlannedEvent, ...], now: float) -> int:
    happened = [_RANK.get(ev.event, 0) for ev in events if message.received_at + ev.offset <= now]
    return max(happened, default=0)


def _notification(message: SentMessage, event: PlannedEvent, at: float, bot_identity: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": message.id,
        "from": event.sender,
        "to": bot_identity,
        "event": event.event,
        "metadata": {
            "#envelope.timestamp": str(int(at * 1000)),
            "#envelope.storageDate": iso_time(at),
            "#message.to": message.to,
        },
    }
    if event.reason is not None:
        item["reason"] = {"code": event.reason[0], "description": event.reason[1]}
    return item
