"""LIME protocol vocabulary used by the emulator: domains, MIME types, reason codes, node helpers."""

from __future__ import annotations

from typing import Any

# Domains of the Blip services a bot talks to (docs/blip-api-facts.md §2-§7).
SERVER_DOMAIN = "msging.net"
WHATSAPP_DOMAIN = "wa.gw.msging.net"
BROADCAST_DOMAIN = "broadcast.msging.net"
CRM_DOMAIN = "crm.msging.net"
#: Instance part used in every ``from`` the emulator writes, so emulator traffic is recognisable.
INSTANCE = "#emulator"

COLLECTION_TYPE = "application/vnd.lime.collection+json"
PING_TYPE = "application/vnd.lime.ping+json"
ACCOUNT_TYPE = "application/vnd.lime.account+json"
CONTACT_TYPE = "application/vnd.lime.contact+json"
IDENTITY_TYPE = "application/vnd.lime.identity"
NOTIFICATION_TYPE = "application/vnd.lime.notification+json"
LIST_MESSAGE_TYPE = "application/vnd.iris.distribution-list-message+json"
CONTEXT_TYPE = "application/vnd.iris.context+json"
TEXT_TYPE = "text/plain"

#: Command methods of LIME (docs/blip-api-facts.md §2 "Command").
METHODS = frozenset({"get", "set", "merge", "delete", "subscribe", "unsubscribe", "observe"})
#: Notification events of LIME, including the obsolete ones (docs/blip-api-facts.md §2 "Notification").
EVENTS = frozenset(
    {"accepted", "validated", "authorized", "dispatched", "received", "consumed", "failed", "deleted"}
)

# LIME reason codes (docs/blip-api-facts.md §1.5).
DESTINATION_NOT_FOUND = 42
PROCESSING_ERROR = 61
RESOURCE_NOT_SUPPORTED = 62
METHOD_NOT_SUPPORTED = 63
INVALID_ARGUMENT = 64
NOT_ALLOWED = 66
RESOURCE_NOT_FOUND = 67
APPLICATION_ERROR = 101


class CommandFailure(Exception):
    """A command that Blip answers with HTTP 200 and ``status: failure`` (docs/blip-api-facts.md §1.4)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description

    def reason(self) -> dict[str, Any]:
        """Return the LIME ``reason`` object."""
        return {"code": self.code, "description": self.description}


def not_found(what: str) -> CommandFailure:
    """Return the failure Blip gives for a missing resource (code 67)."""
    return CommandFailure(RESOURCE_NOT_FOUND, f"The requested resource was not found: {what}")


def postmaster(domain: str) -> str:
    """Return the emulator's postmaster node of a domain, with instance."""
    return f"postmaster@{domain}/{INSTANCE}"


def bare(node: str) -> str:
    """Strip the ``/instance`` part of a node (``name@domain/instance``)."""
    return node.split("/", 1)[0]


def split_identity(node: str) -> tuple[str, str]:
    """Return ``(name, domain)`` of a node, both as written; ``domain`` is empty when missing."""
    name, sep, domain = bare(node).rpartition("@")
    if not sep:
        return bare(node), ""
    return name, domain


def collection(items: list[Any], item_type: str, total: int | None = None) -> dict[str, Any]:
    """Build a LIME collection resource (docs/blip-api-facts.md §2 "Collections")."""
    return {"total": len(items) if total is None else total, "itemType": item_type, "items": items}
