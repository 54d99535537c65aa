"""Active Campaign and scheduler payloads and typed read results (no I/O).

The create payload (``set /campaign/full``) is the one seen in production code that calls
Blip; the read side (campaign, summary, report) has no documented shape, so every parser
here takes what it knows, ignores what it does not, and defaults what is missing
(docs/campaigns.md lists each assumption).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

POSTMASTER_ACTIVECAMPAIGN = "postmaster@activecampaign.msging.net"
POSTMASTER_SCHEDULER = "postmaster@scheduler.msging.net"
FULL_CAMPAIGN_TYPE = "application/vnd.iris.activecampaign.full-campaign+json"
SCHEDULE_TYPE = "application/vnd.iris.schedule+json"

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_MASTER_STATE = re.compile(r"^[^@\s]+@msging\.net$")


class CampaignStatus(StrEnum):
    """A campaign's status as Blip reports it (assumed names; unknown ones are kept as UNKNOWN)."""

    SCHEDULED = "Scheduled"
    PROCESSING = "Processing"
    SENT = "Sent"
    FAILED = "Failed"
    CANCELED = "Canceled"
    UNKNOWN = "Unknown"

    @classmethod
    def parse(cls, value: object) -> CampaignStatus:
        """Read a status in any case ("sent", "SENT"); anything else is :attr:`UNKNOWN`."""
        text = str(value or "").strip().lower()
        return next((status for status in cls if status.value.lower() == text), cls.UNKNOWN)

    @property
    def final(self) -> bool:
        """Whether the campaign will not change any more."""
        return self in (CampaignStatus.SENT, CampaignStatus.FAILED, CampaignStatus.CANCELED)


@dataclasses.dataclass(frozen=True)
class CampaignRecipient:
    """One audience entry: the number in E.164 (with ``+``) and its body parameters in order."""

    phone: str
    params: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CampaignDraft:
    """Everything one ``set /campaign/full`` carries.

    :param name: the campaign's unique name (derive it from the job: a retry finds it again).
    :param template: the approved template's name.
    :param language: its language code, e.g. ``pt_BR``.
    :param recipients: who gets it; one makes an ``Individual`` campaign, more a ``Batch``.
    :param flow_id: the Builder flow the users land in.
    :param state_id: the block they land on.
    :param master_state: the router's sub-bot (``x@msging.net``), when the bot is behind one.
    """

    name: str
    template: str
    language: str
    recipients: tuple[CampaignRecipient, ...]
    flow_id: str
    state_id: str
    master_state: str | None = None


def check_draft(draft: CampaignDraft) -> None:
    """Refuse a draft Blip would refuse, before anything is sent.

    :raises BlipConfigError: naming what is wrong (never a number).
    """
    for field in ("name", "template", "language", "flow_id", "state_id"):
        if not str(getattr(draft, field) or "").strip():
            raise BlipConfigError(f"campaign {field} must not be empty")
    if draft.master_state is not None and not _MASTER_STATE.fullmatch(draft.master_state):
        raise BlipConfigError("master_state must be a sub-bot identity such as 'subbot@msging.net'")
    if not draft.recipients:
        raise BlipConfigError("a campaign needs at least one recipient")
    sizes = {len(r.params) for r in draft.recipients}
    if len(sizes) != 1:
        raise BlipConfigError("every recipient of a campaign needs the same number of parameters")
    seen: set[str] = set()
    for index, recipient in enumerate(draft.recipients, 1):
        if not _E164.fullmatch(recipient.phone):
            raise BlipConfigError(f"recipient {index} is not an E.164 number with its '+'")
        if recipient.phone in seen:
            raise BlipConfigError(f"recipient {index} appears twice in the campaign")
        seen.add(recipient.phone)
        if not all(str(value).strip() for value in recipient.params):
            raise BlipConfigError(f"recipient {index} has an empty parameter")


def full_campaign(draft: CampaignDraft) -> dict[str, Any]:
    """Return the ``resource`` of ``set /campaign/full`` for a checked draft.

    ``messageParams`` is keyed "1", "2"... in each audience entry, and the ordered key list
    goes in ``message``: the form every caller seen uses.
    """
    keys = [str(i) for i in range(1, len(draft.recipients[0].params) + 1)]
    campaign: dict[str, Any] = {
        "name": draft.name,
        "campaignType": "Individual" if len(draft.recipients) == 1 else "Batch",
        "channelType": "WhatsApp",
        "flowId": draft.flow_id,
        "stateId": draft.state_id,
    }
    if draft.master_state:
        campaign["masterState"] = draft.master_state
    audiences = [
        {"recipient": r.phone, "messageParams": dict(zip(keys, r.params, strict=True))}
        for r in draft.recipients
    ]
    resource: dict[str, Any] = {"campaign": campaign}
    if len(audiences) == 1:
        resource["audience"] = audiences[0]
    else:
        resource["audiences"] = audiences
    resource["message"] = {
        "messageTemplate": draft.template,
        "messageTemplateLanguage": draft.language,
        "messageParams": keys,
        "channelType": "WhatsApp",
    }
    return resource


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _text(document: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = document.get(key)
        if value is not None and str(value):
            return str(value)
    return ""


@dataclasses.dataclass(frozen=True)
class Campaign:
    """A campaign as read back; missing fields are empty, unknown ones ignored."""

    id: str
    name: str
    status: CampaignStatus
    raw_status: str = ""

    @classmethod
    def parse(cls, resource: object) -> Campaign:
        document = resource if isinstance(resource, dict) else {}
        raw = _text(document, "status")
        return cls(
            id=_text(document, "id", "campaignId"),
            name=_text(document, "name"),
            status=CampaignStatus.parse(raw),
            raw_status=raw,
        )


@dataclasses.dataclass(frozen=True)
class CampaignSummary:
    """A campaign's counts (assumed fields; missing ones are 0)."""

    campaign_id: str
    audience_size: int
    processed: int
    sent: int
    received: int
    read: int
    failed: int

    @classmethod
    def parse(cls, resource: object, campaign_id: str) -> CampaignSummary:
        # A collection (one item) is what the reference suggests; a bare object is taken too.
        document = resource if isinstance(resource, dict) else {}
        items = document.get("items")
        if isinstance(items, list):
            document = items[0] if items and isinstance(items[0], dict) else {}
        return cls(
            campaign_id=_text(document, "campaignId", "id") or campaign_id,
            audience_size=_int(document.get("audienceSize")),
            processed=_int(document.get("processed")),
            sent=_int(document.get("sent")),
            received=_int(document.get("received")),
            read=_int(document.get("read")),
            failed=_int(document.get("failed")),
        )


@dataclasses.dataclass(frozen=True)
class CampaignReportRow:
    """One recipient's line of a campaign report.

    :param status: the LIME event reached, lowercased (``accepted`` ... ``consumed``,
        ``failed``); empty when Blip gave none.
    """

    phone: str
    status: str
    message_id: str = ""
    reason_code: int | None = None
    reason: str = ""

    @classmethod
    def parse(cls, item: object) -> CampaignReportRow:
        document = item if isinstance(item, dict) else {}
        code = document.get("reasonCode")
        return cls(
            phone=normalise_phone(_text(document, "recipient", "phoneNumber", "identity")),
            status=_text(document, "status").strip().lower(),
            message_id=_text(document, "messageId", "id"),
            reason_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            reason=_text(document, "reasonDescription", "reason"),
        )


def normalise_phone(value: str) -> str:
    """Return ``+digits`` for a number or a WhatsApp identity (``5531...@wa.gw.msging.net``)."""
    name = value.split("@", 1)[0]
    digits = "".join(ch for ch in name if ch.isdigit())
    return f"+{digits}" if digits else value


class ScheduleStatus(StrEnum):
    """A scheduled message's status (docs/blip-api-facts.md §9)."""

    SCHEDULED = "scheduled"
    EXECUTED = "executed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A scheduled message as read back."""

    message_id: str
    to: str
    when: str
    status: ScheduleStatus
    name: str = ""

    @classmethod
    def parse(cls, resource: object) -> Schedule:
        document = resource if isinstance(resource, dict) else {}
        message = document.get("message") if isinstance(document.get("message"), dict) else {}
        raw = _text(document, "status").lower()
        status = next((s for s in ScheduleStatus if s.value == raw), ScheduleStatus.UNKNOWN)
        return cls(
            message_id=_text(message or {}, "id"),
            to=_text(message or {}, "to"),
            when=_text(document, "when"),
            status=status,
            name=_text(document, "name"),
        )


def utc_when(when: datetime.datetime) -> str:
    """Format an aware time as the scheduler's ``when``: UTC, milliseconds, ``Z``.

    :raises BlipConfigError: a naive time (its zone would be a guess).
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise BlipConfigError("the schedule's time must be timezone-aware (e.g. pendulum or tz=UTC)")
    stamp = when.astimezone(datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def schedule_resource(
    *, message_id: str, to: str, content_type: str, content: Any, when: datetime.datetime, name: str | None
) -> dict[str, Any]:
    """Return the ``resource`` of ``set /schedules``."""
    resource: dict[str, Any] = {
        "message": {"id": message_id, "to": to, "type": content_type, "content": content},
        "when": utc_when(when),
    }
    if name:
        resource["name"] = name
    return resource


def parts(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Cut ``items`` into consecutive parts of at most ``size``."""
    if size < 1:
        raise BlipConfigError(f"campaign_size must be at least 1, got {size!r}")
    return [items[i : i + size] for i in range(0, len(items), size)]
