"""A Blip contact as the hook returns it (pure: no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Contact:
    """One contact of the bot's CRM (``/contacts``, docs/blip-api-facts.md §6).

    Only the fields the provider uses are kept; Blip's others are ignored, and a missing one is
    ``None``.

    :param identity: the contact's address, e.g. ``5511987654321@wa.gw.msging.net``.
    :param source: the channel it came from, e.g. ``WhatsApp``.
    :param last_message_date: ``lastmessagedate`` as Blip wrote it (ISO 8601), if any.
    """

    identity: str
    source: str | None = None
    last_message_date: str | None = None

    @classmethod
    def of(cls, item: Any) -> Contact | None:
        """Read a contact document; ``None`` for one without an identity."""
        if not isinstance(item, Mapping) or not item.get("identity"):
            return None
        return cls(
            identity=str(item["identity"]),
            source=_text(item.get("source")),
            last_message_date=_text(item.get("lastMessageDate") or item.get("lastmessagedate")),
        )

    @property
    def phone(self) -> str:
        """The number of a phone identity in E.164 form (``+`` and the digits), or ``""``."""
        user = self.identity.split("@", 1)[0]
        return "+" + user if user.isdigit() else ""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
