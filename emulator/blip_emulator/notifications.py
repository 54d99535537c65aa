"""``get /notifications`` commands (docs/blip-api-facts.md §8.1), sent to ``postmaster@msging.net``."""

from __future__ import annotations

from typing import Any

from blip_emulator.command import Command, Result, page
from blip_emulator.delivery import notification_items
from blip_emulator.lime import NOTIFICATION_TYPE, RESOURCE_NOT_SUPPORTED, CommandFailure

#: The unfiltered query returns the last 100, and ``$take`` is at most 100 (DOCS chat-history.md).
MAX_TAKE = 100


def handle(command: Command) -> Result:
    """Answer ``get /notifications?id=<message id>`` or the unfiltered ``get /notifications``."""
    if len(command.uri.segments) != 1:
        raise CommandFailure(RESOURCE_NOT_SUPPORTED, "Only /notifications is emulated")
    command.require("get")
    message_id = command.uri.query.get("id")
    if message_id is not None:
        return page(_of_message(command, message_id), command.uri, NOTIFICATION_TYPE, max_take=MAX_TAKE)
    return page(_latest(command), command.uri, NOTIFICATION_TYPE, max_take=MAX_TAKE)


def _of_message(command: Command, message_id: str) -> list[dict[str, Any]]:
    # Every copy sent with this id contributes; an unknown id is an empty collection.
    items: list[dict[str, Any]] = []
    for message in command.store.by_id.get(message_id, []):
        items.extend(notification_items(message, command.bot_identity, command.now))
    return sorted(items, key=_timestamp)


def _latest(command: Command) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in command.store.messages:
        items.extend(notification_items(message, command.bot_identity, command.now))
    items.sort(key=_timestamp, reverse=True)
    return items[:MAX_TAKE]


def _timestamp(item: dict[str, Any]) -> int:
    return int(item["metadata"]["#envelope.timestamp"])
