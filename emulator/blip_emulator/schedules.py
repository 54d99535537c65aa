"""The scheduler, on ``postmaster@scheduler.msging.net`` (docs/blip-api-facts.md §9).

``set /schedules`` stores a message to send at ``when`` (UTC); ``get /schedules/{id}`` reads it
back with its status (``scheduled``, ``executed``, ``canceled``); ``delete /schedules/{id}``
cancels it; ``get /schedules`` lists at most 1000. A due message is sent by :func:`advance`,
lazily, as of its ``when``: it then goes through the same delivery as a message posted to
``/messages`` at that moment. Blip documents no deduplication: a second ``set`` with the id of
a schedule stores a second schedule, and both are sent.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

from blip_emulator.command import Command, Result, page, typed
from blip_emulator.delivery import plan_direct, plan_list
from blip_emulator.lime import (
    BROADCAST_DOMAIN,
    INVALID_ARGUMENT,
    NOT_ALLOWED,
    RESOURCE_NOT_SUPPORTED,
    CommandFailure,
    bare,
    not_found,
    split_identity,
)

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig
    from blip_emulator.state import Store

DOMAIN = "scheduler.msging.net"
SCHEDULE_TYPE = "application/vnd.iris.schedule+json"
#: ``get /schedules`` returns at most this many items since April 2021 (§9).
MAX_LISTED = 1000


@dataclasses.dataclass
class Schedule:
    """A scheduled message: the message as given, when it is due, and its status."""

    message: dict[str, Any]
    when: float
    name: str | None
    status: str = "scheduled"

    def resource(self) -> dict[str, Any]:
        stamp = datetime.datetime.fromtimestamp(self.when, datetime.UTC)
        metadata = {
            **(self.message.get("metadata") or {}),
            "#scheduler.when": stamp.strftime("%m/%d/%Y %H:%M:%S"),
        }
        resource: dict[str, Any] = {
            "when": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "message": {**self.message, "metadata": metadata},
            "status": self.status,
        }
        if self.name is not None:
            resource["name"] = self.name
        return resource


def handle(command: Command) -> Result:
    """Dispatch a ``/schedules`` command on its path depth and method."""
    segments = command.uri.segments
    schedules = command.store.schedules
    if len(segments) == 1:
        command.require("get", "set")
        if command.method == "set":
            _create(command)
            return None
        listed = [s.resource() for copies in schedules.values() for s in copies][:MAX_LISTED]
        return page(listed, command.uri, SCHEDULE_TYPE)
    if len(segments) != 2:
        raise CommandFailure(RESOURCE_NOT_SUPPORTED, "Only /schedules[/{messageId}] is emulated")
    command.require("get", "delete")
    copies = schedules.get(segments[1])
    if not copies:
        raise not_found(f"schedule {segments[1]}")
    latest = copies[-1]
    if command.method == "get":
        return typed(SCHEDULE_TYPE, latest.resource())
    for schedule in copies:
        if schedule.status == "executed":
            raise CommandFailure(NOT_ALLOWED, f"Schedule {segments[1]} was already executed")
        schedule.status = "canceled"
    return None


def advance(store: Store, config: EmulatorConfig, now: float) -> None:
    """Send every scheduled message that is due, as of its ``when``."""
    for copies in store.schedules.values():
        for schedule in copies:
            if schedule.status == "scheduled" and now >= schedule.when:
                _send(schedule, store, config)


def _send(schedule: Schedule, store: Store, config: EmulatorConfig) -> None:
    message = schedule.message
    to = str(message["to"])
    _, domain = split_identity(to)
    if domain.lower() == BROADCAST_DOMAIN:
        members = store.members(bare(to))
        recipients = None if members is None else list(members.values())
        sent = plan_list(message["id"], to, message["content"], recipients, config, schedule.when)
    else:
        sent = plan_direct(message["id"], to, message["content"], config, schedule.when)
    store.add_message(sent)
    schedule.status = "executed"


def _create(command: Command) -> None:
    if command.envelope.get("type") != SCHEDULE_TYPE:
        raise CommandFailure(INVALID_ARGUMENT, f"A schedule needs the type {SCHEDULE_TYPE}")
    resource = command.resource
    if not isinstance(resource, dict) or not isinstance(resource.get("message"), dict):
        raise CommandFailure(INVALID_ARGUMENT, "A schedule needs a 'message' object")
    message = resource["message"]
    for key in ("id", "to", "type"):
        if not isinstance(message.get(key), str) or not message[key]:
            raise CommandFailure(INVALID_ARGUMENT, f"A scheduled message needs '{key}'")
    if "content" not in message:
        raise CommandFailure(INVALID_ARGUMENT, "A scheduled message needs 'content'")
    name = resource.get("name")
    if name is not None and not isinstance(name, str):
        raise CommandFailure(INVALID_ARGUMENT, "A schedule's name must be a string")
    when = _when(resource.get("when"))
    command.store.schedules.setdefault(message["id"], []).append(Schedule(dict(message), when, name))


def _when(value: Any) -> float:
    # In UTC (§9): a time with another offset, or none, is refused rather than guessed.
    if not isinstance(value, str):
        raise CommandFailure(INVALID_ARGUMENT, "A schedule needs 'when', an ISO 8601 time in UTC")
    try:
        stamp = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandFailure(INVALID_ARGUMENT, f"'when' is not an ISO 8601 time: {value!r}") from None
    if stamp.utcoffset() != datetime.timedelta(0):
        raise CommandFailure(INVALID_ARGUMENT, f"'when' must be in UTC (ending in Z), got {value!r}")
    return stamp.timestamp()
