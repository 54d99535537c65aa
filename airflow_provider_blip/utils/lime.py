"""Pure builders for LIME envelopes and Blip URIs (no I/O).

The hook sends what these functions build; tests and the emulator read the same shapes.
Sources for every shape are in ``docs/blip-api-facts.md`` (sections named in each docstring).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict
from urllib.parse import quote

from airflow_provider_blip.exceptions import BlipConfigError

if TYPE_CHECKING:
    import pendulum

#: Addresses of the Blip extensions a command can go to (docs/blip-api-facts.md §3, §5, §6, §7).
POSTMASTER = "postmaster@msging.net"
POSTMASTER_WHATSAPP = "postmaster@wa.gw.msging.net"
POSTMASTER_BROADCAST = "postmaster@broadcast.msging.net"
POSTMASTER_CRM = "postmaster@crm.msging.net"

WHATSAPP_DOMAIN = "wa.gw.msging.net"
BROADCAST_DOMAIN = "broadcast.msging.net"

#: Resource types of distribution lists and of their members.
LIST_TYPE = "application/vnd.iris.distribution-list+json"
IDENTITY_TYPE = "application/vnd.lime.identity"
# Blip's answers when a list is missing (101) or a recipient is not on it (64); SDKCS
# ManageListAction creates the list on 101 and treats both as "nothing to remove".
REASON_LIST_MISSING = 101
REASON_NOT_A_MEMBER = 64

# SDKPY's build_uri quotes every segment but puts `$` and `'` back so OData queries survive;
# commas go as %2C, as the DOCS and help-centre filters write them (docs/blip-api-facts.md §6).
_QUERY_SAFE = "$'()"


class Command(TypedDict):
    """A LIME command envelope (docs/blip-api-facts.md §2)."""

    id: str
    method: str
    uri: str
    to: NotRequired[str]
    type: NotRequired[str]
    resource: NotRequired[Any]


class Message(TypedDict):
    """A LIME message envelope (docs/blip-api-facts.md §2)."""

    id: str
    to: str
    type: str
    content: Any
    metadata: NotRequired[dict[str, str]]


class Notification(TypedDict):
    """A LIME notification envelope (docs/blip-api-facts.md §2)."""

    id: str
    to: str
    event: str
    reason: NotRequired[dict[str, Any]]


def new_id() -> str:
    """Return a fresh envelope id (a random UUID, as the Blip docs ask)."""
    return str(uuid.uuid4())


def segment(value: str) -> str:
    """Percent-encode one URI path segment: ``@`` becomes ``%40``, ``+`` becomes ``%2B``."""
    return quote(str(value), safe="")


def path(*segments: str) -> str:
    """Join encoded path segments into a command URI, e.g. ``/contexts/{identity}/{name}``."""
    return "/" + "/".join(segment(s) for s in segments)


def query_value(value: object) -> str:
    """Encode a query value, keeping ``$`` and ``'`` (and OData punctuation) as they are."""
    return quote(str(value), safe=_QUERY_SAFE)


def with_query(uri: str, params: dict[str, object | None]) -> str:
    """Append query parameters to ``uri``, dropping ``None`` values (as SDKPY does)."""
    parts = [f"{k}={query_value(v)}" for k, v in params.items() if v is not None]
    if not parts:
        return uri
    sep = "&" if "?" in uri else "?"
    return uri + sep + "&".join(parts)


def command(
    method: str,
    uri: str,
    *,
    to: str | None = None,
    content_type: str | None = None,
    resource: Any = None,
    envelope_id: str | None = None,
) -> Command:
    """Build a command envelope; ``to`` defaults to the server, ``id`` to a fresh UUID."""
    env: Command = {"id": envelope_id or new_id(), "method": method, "uri": uri}
    if to is not None:
        env["to"] = to
    if content_type is not None:
        env["type"] = content_type
        env["resource"] = resource
    return env


def message(
    to: str,
    content_type: str,
    content: Any,
    *,
    envelope_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Message:
    """Build a message envelope (``POST /messages``); Blip answers 202 and reports by notifications."""
    env: Message = {"id": envelope_id or new_id(), "to": to, "type": content_type, "content": content}
    if metadata:
        env["metadata"] = dict(metadata)
    return env


def notification(
    to: str, event: str, *, envelope_id: str, reason: dict[str, Any] | None = None
) -> Notification:
    """Build a notification envelope (``POST /notifications``) about message ``envelope_id``."""
    env: Notification = {"id": envelope_id, "to": to, "event": event}
    if reason is not None:
        env["reason"] = reason
    return env


def whatsapp_account_uri(phone_e164: str) -> str:
    """URI of the WhatsApp directory lookup for ``+5531...`` (docs/blip-api-facts.md §3); keeps the ``+``."""
    if not phone_e164.startswith("+"):
        # Without the plus Blip "succeeds" for any number (docs/blip-api-facts.md §3): refuse early.
        raise BlipConfigError("a WhatsApp lookup needs the number in E.164 form with a leading '+'")
    return f"lime://{WHATSAPP_DOMAIN}/accounts/{segment(phone_e164)}"


def list_identity(name: str) -> str:
    """Return the address of distribution list ``name`` (``name@broadcast.msging.net``)."""
    return name if name.endswith("@" + BROADCAST_DOMAIN) else f"{name}@{BROADCAST_DOMAIN}"


def survey_filter(
    source: str, start: pendulum.DateTime | None = None, end: pendulum.DateTime | None = None
) -> str:
    """Build the OData filter of the contact survey, optionally within a ``lastmessagedate`` window."""
    parts = [f"(substringof('{source}',source))"]
    if start is not None:
        parts.append(f"(lastmessagedate ge datetimeoffset'{start.isoformat()}')")
    if end is not None:
        parts.append(f"(lastmessagedate lt datetimeoffset'{end.isoformat()}')")
    return " and ".join(parts)
