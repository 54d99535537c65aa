"""Active Campaign, Blip's own bulk route, on ``postmaster@activecampaign.msging.net``.

``set /campaign/full`` creates a campaign and dispatches it: after ``campaign_dispatch_delay``
seconds Blip does, per recipient, what the per-recipient procedure does (the WhatsApp lookup,
the template send, ``master-state`` then ``stateid@{flowId}``), and the campaign moves from
``Processing`` to ``Sent``. The dispatch is applied lazily, when a command arrives after its
time (:func:`advance`), with the moment it would have happened: no timers run.

The create payload is seen in production code (blip-api.md §13.4) and validated strictly. The
read side (``get /campaigns``, ``/campaigns/{id}``, ``/summaries``, ``/reports``) is not
documented anywhere: its shapes here are the project's assumption (docs/emulator.md).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import TYPE_CHECKING, Any

from blip_emulator import directory
from blip_emulator.command import Command, Result, page, typed
from blip_emulator.delivery import PlannedEvent, SentMessage, iso_time, plan_direct
from blip_emulator.lime import (
    INVALID_ARGUMENT,
    NOT_ALLOWED,
    RESOURCE_NOT_SUPPORTED,
    SERVER_DOMAIN,
    TEXT_TYPE,
    CommandFailure,
    not_found,
    postmaster,
)

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig
    from blip_emulator.state import Store

DOMAIN = "activecampaign.msging.net"
FULL_CAMPAIGN_TYPE = "application/vnd.iris.activecampaign.full-campaign+json"
CAMPAIGN_TYPE = "application/vnd.iris.activecampaign.campaign+json"
SUMMARY_TYPE = "application/vnd.iris.activecampaign.campaign-summary+json"
REPORT_TYPE = "application/vnd.iris.activecampaign.campaign-report+json"
#: Final campaign statuses (assumed, blip-api.md §13.4).
FINAL = frozenset({"Sent", "Failed", "Canceled"})

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_RANK = {"accepted": 1, "dispatched": 2, "received": 3, "consumed": 4}
_NAMESPACE = uuid.UUID("5f8d0c53-3c1e-4b7e-9a35-6a8f2f1d3c11")


@dataclasses.dataclass(frozen=True)
class Recipient:
    """One audience entry of a campaign: the E.164 number and its template parameters."""

    number: str
    params: tuple[str, ...]


@dataclasses.dataclass
class Campaign:
    """A stored campaign: what was asked, and once dispatched, each recipient's message."""

    id: str
    name: str
    campaign_type: str
    flow_id: str
    state_id: str
    master_state: str | None
    template: str
    language: str
    recipients: tuple[Recipient, ...]
    created: float
    dispatch_at: float
    status: str = "Processing"
    messages: dict[str, SentMessage] = dataclasses.field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "campaignType": self.campaign_type,
            "channelType": "WhatsApp",
            "flowId": self.flow_id,
            "stateId": self.state_id,
            "created": iso_time(self.created),
        }


def handle_full(command: Command) -> Result:
    """``set /campaign/full``: validate, store and schedule the dispatch; answer the id."""
    command.require("set")
    if command.uri.segments[1:] != ("full",):
        raise CommandFailure(RESOURCE_NOT_SUPPORTED, "Only /campaign/full is emulated")
    if command.envelope.get("type") != FULL_CAMPAIGN_TYPE:
        raise CommandFailure(INVALID_ARGUMENT, f"A full campaign needs the type {FULL_CAMPAIGN_TYPE}")
    campaign = _parse(command.resource, command.config, command.now)
    if any(c.name == campaign.name for c in command.store.campaigns.values()):
        raise CommandFailure(INVALID_ARGUMENT, f"A campaign named {campaign.name!r} already exists")
    command.store.campaigns[campaign.id] = campaign
    return typed(CAMPAIGN_TYPE, campaign.resource())


def handle(command: Command) -> Result:
    """``/campaigns``, ``/campaigns/{id}``, ``/campaigns/{id}/summaries``, ``/campaigns/{id}/reports``."""
    segments = command.uri.segments
    campaigns = command.store.campaigns
    if len(segments) == 1:
        command.require("get")
        newest_first = sorted(campaigns.values(), key=lambda c: c.created, reverse=True)
        return page([c.resource() for c in newest_first], command.uri, CAMPAIGN_TYPE)
    campaign = campaigns.get(segments[1])
    if campaign is None:
        raise not_found(f"campaign {segments[1]}")
    if len(segments) == 2:
        command.require("get", "delete")
        if command.method == "delete":
            _cancel(campaign)
            return None
        return typed(CAMPAIGN_TYPE, campaign.resource())
    if len(segments) == 3 and segments[2] == "summaries":
        command.require("get")
        return page([_summary(campaign, command.now)], command.uri, SUMMARY_TYPE)
    if len(segments) == 3 and segments[2] == "reports":
        command.require("get")
        return page(_report(campaign, command.now), command.uri, REPORT_TYPE)
    raise CommandFailure(RESOURCE_NOT_SUPPORTED, "Only /campaigns/{id}[/summaries|/reports] is emulated")


def advance(store: Store, config: EmulatorConfig, now: float) -> None:
    """Dispatch every campaign whose time has come, as of the moment it was due."""
    for campaign in store.campaigns.values():
        if campaign.status == "Processing" and now >= campaign.dispatch_at:
            _dispatch(campaign, store, config)


def _cancel(campaign: Campaign) -> None:
    if campaign.status == "Canceled":
        return
    if campaign.status != "Processing":
        raise CommandFailure(
            NOT_ALLOWED, f"Campaign {campaign.id} is {campaign.status}: it cannot be canceled"
        )
    campaign.status = "Canceled"


def _dispatch(campaign: Campaign, store: Store, config: EmulatorConfig) -> None:
    at = campaign.dispatch_at
    for recipient in campaign.recipients:
        message_id = str(uuid.uuid5(_NAMESPACE, f"{campaign.id}:{recipient.number}"))
        campaign.messages[recipient.number] = _send_one(campaign, recipient, message_id, store, config, at)
    campaign.status = "Sent"


def _send_one(
    campaign: Campaign, recipient: Recipient, message_id: str, store: Store, config: EmulatorConfig, at: float
) -> SentMessage:
    try:
        found = directory.lookup(recipient.number, config)["resource"]
    except CommandFailure as failure:
        # No account, no message: the failure reaches the bot as a notification all the same.
        event = PlannedEvent(0.0, postmaster(SERVER_DOMAIN), "failed", (failure.code, failure.description))
        message = SentMessage(message_id, recipient.number, at, (event,))
        store.add_message(message)
        return message
    account = found["alternativeAccount"]
    # As for a bot's own lookup, the account joins the roster unless the contact exists.
    if found["identity"].lower() not in store.contacts:
        contact = {k: found[k] for k in ("identity", "phoneNumber", "source")}
        store.put_contact({**contact, "name": found["fullName"]})
    message = plan_direct(message_id, account, _content(campaign, recipient), config, at)
    store.add_message(message)
    if not any(event.event == "failed" for event in message.events):
        variables = store.context_of(account)
        if campaign.master_state:
            variables["master-state"] = (TEXT_TYPE, campaign.master_state)
        variables[f"stateid@{campaign.flow_id}".lower()] = (TEXT_TYPE, campaign.state_id)
    return message


def _content(campaign: Campaign, recipient: Recipient) -> dict[str, Any]:
    parameters = [{"type": "text", "text": value} for value in recipient.params]
    template = {
        "name": campaign.template,
        "language": {"code": campaign.language, "policy": "deterministic"},
        "components": [{"type": "body", "parameters": parameters}],
    }
    return {"type": "template", "template": template}


def _status(message: SentMessage | None, now: float) -> tuple[str, tuple[int, str] | None]:
    if message is None:
        return "processing", None
    happened = [event for event in message.events if message.received_at + event.offset <= now]
    failed = next((event for event in happened if event.event == "failed"), None)
    if failed is not None:
        return "failed", failed.reason
    furthest = max(happened, key=lambda event: _RANK.get(event.event, 0), default=None)
    return (furthest.event if furthest is not None else "processing"), None


def _report(campaign: Campaign, now: float) -> list[dict[str, Any]]:
    if campaign.status != "Sent":
        return []
    items = []
    for recipient in campaign.recipients:
        message = campaign.messages.get(recipient.number)
        status, reason = _status(message, now)
        item: dict[str, Any] = {"recipient": recipient.number, "status": status}
        if message is not None:
            item["messageId"] = message.id
        if reason is not None:
            item.update(reasonCode=reason[0], reasonDescription=reason[1])
        items.append(item)
    return items


def _summary(campaign: Campaign, now: float) -> dict[str, Any]:
    statuses = [item["status"] for item in _report(campaign, now)]
    return {
        "campaignId": campaign.id,
        "audienceSize": len(campaign.recipients),
        "processed": len(statuses),
        "sent": sum(1 for s in statuses if s in _RANK),
        "received": sum(1 for s in statuses if s in ("received", "consumed")),
        "read": sum(1 for s in statuses if s == "consumed"),
        "failed": sum(1 for s in statuses if s == "failed"),
    }


# -- strict validation of the create payload (blip-api.md §13.4) ------------------------------


def _bad(message: str) -> CommandFailure:
    return CommandFailure(INVALID_ARGUMENT, f"Invalid full campaign: {message}")


def _text(document: dict[str, Any], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where}.{key} must be a non-empty string")
    return value


def _object(document: Any, where: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise _bad(f"{where} must be an object")
    return document


def _parse(resource: Any, config: EmulatorConfig, now: float) -> Campaign:
    resource = _object(resource, "resource")
    campaign = _object(resource.get("campaign"), "campaign")
    message = _object(resource.get("message"), "message")
    kind = campaign.get("campaignType")
    if kind not in ("Batch", "Individual"):
        raise _bad("campaign.campaignType must be 'Batch' or 'Individual'")
    for where, document in (("campaign", campaign), ("message", message)):
        if document.get("channelType") != "WhatsApp":
            raise _bad(f"{where}.channelType must be 'WhatsApp'")
    master_state = campaign.get("masterState")
    if master_state is not None and (
        not isinstance(master_state, str) or not master_state.endswith("@msging.net")
    ):
        raise _bad("campaign.masterState must be a sub-bot identity such as 'subbot@msging.net'")
    keys = message.get("messageParams")
    if not isinstance(keys, list) or keys != [str(i) for i in range(1, len(keys) + 1)]:
        raise _bad('message.messageParams must be the ordered list of parameter keys "1", "2"...')
    entries = _audience(resource, kind)
    if len(entries) > config.campaign_max_audience:
        raise _bad(f"at most {config.campaign_max_audience} recipients per campaign, got {len(entries)}")
    recipients = tuple(_recipient(entry, index, keys) for index, entry in enumerate(entries))
    if len({r.number for r in recipients}) != len(recipients):
        raise _bad("a recipient appears twice in the audience")
    name = _text(campaign, "name", "campaign")
    return Campaign(
        id=str(uuid.uuid5(_NAMESPACE, f"{name}:{now}")),
        name=name,
        campaign_type=kind,
        flow_id=_text(campaign, "flowId", "campaign"),
        state_id=_text(campaign, "stateId", "campaign"),
        master_state=master_state,
        template=_text(message, "messageTemplate", "message"),
        language=_text(message, "messageTemplateLanguage", "message"),
        recipients=recipients,
        created=now,
        dispatch_at=now + config.campaign_dispatch_delay,
    )


def _audience(resource: dict[str, Any], kind: str) -> list[Any]:
    if kind == "Individual":
        if "audiences" in resource:
            raise _bad("an Individual campaign takes one 'audience' object, not 'audiences'")
        return [_object(resource.get("audience"), "audience")]
    if "audience" in resource:
        raise _bad("a Batch campaign takes an 'audiences' list, not 'audience'")
    audiences = resource.get("audiences")
    if not isinstance(audiences, list) or not audiences:
        raise _bad("a Batch campaign needs a non-empty 'audiences' list")
    return audiences


def _recipient(entry: Any, index: int, keys: list[str]) -> Recipient:
    where = f"audiences[{index}]"
    entry = _object(entry, where)
    number = entry.get("recipient")
    if not isinstance(number, str) or not _E164.fullmatch(number):
        raise _bad(f"{where}.recipient must be an E.164 number with its '+'")
    params = entry.get("messageParams", {} if not keys else None)
    if not isinstance(params, dict) or sorted(params) != sorted(keys):
        raise _bad(f"{where}.messageParams must have exactly the keys of message.messageParams")
    values = tuple(params[key] for key in keys)
    if not all(isinstance(value, str) and value.strip() for value in values):
        raise _bad(f"{where}.messageParams values must be non-empty strings")
    return Recipient(number, values)
