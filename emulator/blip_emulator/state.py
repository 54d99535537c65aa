"""The emulated bot's server-side state: contacts, contexts, distribution lists and sent messages.

Plain containers with no locking: the engine holds its lock around every use. Keys are
lowercased identities (LIME identities are case-insensitive); values keep the spelling received.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

from blip_emulator.delivery import SentMessage, iso_time
from blip_emulator.lime import BROADCAST_DOMAIN, WHATSAPP_DOMAIN

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from blip_emulator.campaigns import Campaign
    from blip_emulator.schedules import Schedule

#: ``lastMessageDate`` of the first generated contact; later ones follow one minute apart.
GENERATED_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC).timestamp()


def list_identity(name: str) -> str:
    """Return the full identity of a list given ``mylist`` or ``mylist@broadcast.msging.net``."""
    name = name.split("/", 1)[0]
    return name if "@" in name else f"{name}@{BROADCAST_DOMAIN}"


@dataclasses.dataclass
class Store:
    """All mutable state of one emulated bot.

    :param bot_id: Bot name, used for the automatic ``<bot>+senders`` list.
    """

    bot_id: str
    contacts: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    contexts: dict[str, dict[str, tuple[str, Any]]] = dataclasses.field(default_factory=dict)
    lists: dict[str, tuple[str, dict[str, str]]] = dataclasses.field(default_factory=dict)
    max_messages: int = 100_000
    next_index: int = 0
    messages: collections.deque[SentMessage] = dataclasses.field(default_factory=collections.deque)
    by_id: dict[str, list[SentMessage]] = dataclasses.field(default_factory=dict)
    posted_notifications: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Active Campaign campaigns by id (campaigns.py) and scheduled messages by id (schedules.py).
    campaigns: dict[str, Campaign] = dataclasses.field(default_factory=dict)
    schedules: dict[str, list[Schedule]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every bot has an automatic list of everyone who ever messaged it (docs/blip-api-facts.md §7).
        self.create_list(self.senders_list)

    @property
    def senders_list(self) -> str:
        """Return the automatic ``<bot>+senders@broadcast.msging.net`` list identity."""
        return f"{self.bot_id}+senders@{BROADCAST_DOMAIN}"

    # -- messages ---------------------------------------------------------------------------
    def add_message(self, message: SentMessage) -> None:
        """Store a sent message; repeated ids are stored again, as Blip does not deduplicate."""
        while len(self.messages) >= self.max_messages:
            self._forget(self.messages.popleft())
        self.messages.append(message)
        if message.id is not None:
            self.by_id.setdefault(message.id, []).append(message)

    def _forget(self, message: SentMessage) -> None:
        if message.id is None:
            return
        copies = self.by_id.get(message.id, [])
        if message in copies:
            copies.remove(message)
        if not copies:
            self.by_id.pop(message.id, None)

    # -- contacts ---------------------------------------------------------------------------
    def put_contact(self, contact: Mapping[str, Any], *, merge: bool = False) -> None:
        """Create or replace (``merge=False``) or update (``merge=True``) a contact."""
        key = str(contact["identity"]).lower()
        current = self.contacts.get(key) if merge else None
        self.contacts[key] = {**(current or {}), **contact}

    def generate_contacts(self, count: int, *, source: str, start: int | None) -> list[str]:
        """Create ``count`` WhatsApp-like contacts numbered from ``start``; return their identities.

        ``start=None`` continues after the last generated index, so repeated calls add new contacts.
        """
        first = self.next_index if start is None else start
        self.next_index = max(self.next_index, first + count)
        identities = []
        for index in range(first, first + count):
            # Area code 11 is below the default ninth-digit threshold, so these accounts are valid.
            digits = f"55119{index:08d}"
            identity = f"{digits}@{WHATSAPP_DOMAIN}"
            self.put_contact(
                {
                    "identity": identity,
                    "name": f"Contact {index}",
                    "phoneNumber": f"+{digits}",
                    "source": source,
                    "extras": {"index": str(index)},
                    "lastMessageDate": iso_time(GENERATED_EPOCH + 60.0 * index),
                }
            )
            self.add_member(self.senders_list, identity)
            identities.append(identity)
        return identities

    def add_contacts(self, contacts: Iterable[Mapping[str, Any]]) -> list[str]:
        """Store explicit contact dicts (each needs ``identity``); return their identities."""
        identities = []
        for contact in contacts:
            if "identity" not in contact:
                raise ValueError(f"contact {dict(contact)!r} has no 'identity'")
            self.put_contact(contact)
            identities.append(str(contact["identity"]))
        return identities

    # -- contexts ---------------------------------------------------------------------------
    def context_of(self, identity: str) -> dict[str, tuple[str, Any]]:
        """Return the (possibly empty) variables of a user, creating the mapping on demand."""
        return self.contexts.setdefault(identity.lower(), {})

    # -- lists ------------------------------------------------------------------------------
    def create_list(self, identity: str) -> None:
        """Create a list unless it exists."""
        self.lists.setdefault(identity.lower(), (identity, {}))

    def members(self, identity: str) -> dict[str, str] | None:
        """Return the members of a list (lowercased key to identity), or ``None`` if it is missing."""
        entry = self.lists.get(identity.lower())
        return None if entry is None else entry[1]

    def add_member(self, list_id: str, member: str) -> bool:
        """Add a member; return ``False`` when the list does not exist."""
        members = self.members(list_id)
        if members is None:
            return False
        members.setdefault(member.lower(), member)
        return True
