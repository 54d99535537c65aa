"""Route a command envelope to its resource handler and build the response envelope.

Routing follows the ``to`` addresses of docs/blip-api-facts.md: ``postmaster@wa.gw.msging.net`` for
``/accounts`` (§3) and ``/message-templates`` (§13.3), ``postmaster@broadcast.msging.net`` for
``/lists`` (§7), ``postmaster@crm.msging.net`` or the default ``postmaster@msging.net`` for
``/contacts`` (§6), and the default for ``/contexts`` (§5), ``/notifications`` (§8) and ``/ping``
(§11); ``postmaster@activecampaign.msging.net`` for ``/campaign/full`` and ``/campaigns`` (Active
Campaign) and ``postmaster@scheduler.msging.net`` for ``/schedules`` (§9). A resource
sent to the wrong postmaster fails with code 62, which is how a client bug shows up here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from blip_emulator import campaigns, contacts, contexts, directory, lists, notifications, schedules, templates
from blip_emulator.command import Command, Result, typed
from blip_emulator.lime import (
    BROADCAST_DOMAIN,
    CRM_DOMAIN,
    INVALID_ARGUMENT,
    PING_TYPE,
    RESOURCE_NOT_SUPPORTED,
    SERVER_DOMAIN,
    WHATSAPP_DOMAIN,
    CommandFailure,
    bare,
    postmaster,
    split_identity,
)
from blip_emulator.uris import parse_uri

if TYPE_CHECKING:
    from blip_emulator.config import EmulatorConfig
    from blip_emulator.state import Store

Handler = Callable[[Command], Result]


def _ping(command: Command) -> Result:
    command.require("get")
    return typed(PING_TYPE, {})


def _accounts(command: Command) -> Result:
    directory.check_lookup_method(command.method)
    if len(command.uri.segments) != 2 or not command.uri.segments[1]:
        raise CommandFailure(INVALID_ARGUMENT, "Use lime://wa.gw.msging.net/accounts/+<number>")
    result = directory.lookup(command.uri.segments[1], command.config)
    account = result["resource"]
    # A successful lookup is written to the roster unless the contact exists (DOCS user-info.md).
    if account["identity"].lower() not in command.store.contacts:
        contact = {k: account[k] for k in ("identity", "phoneNumber", "source")}
        command.store.put_contact({**contact, "name": account["fullName"]})
    return result


#: resource (first path segment) -> (handler, domains of the postmasters that serve it)
ROUTES: dict[str, tuple[Handler, frozenset[str]]] = {
    "ping": (_ping, frozenset({SERVER_DOMAIN})),
    "accounts": (_accounts, frozenset({WHATSAPP_DOMAIN})),
    "contacts": (contacts.handle, frozenset({SERVER_DOMAIN, CRM_DOMAIN})),
    "contexts": (contexts.handle, frozenset({SERVER_DOMAIN})),
    "notifications": (notifications.handle, frozenset({SERVER_DOMAIN})),
    "lists": (lists.handle, frozenset({BROADCAST_DOMAIN})),
    "campaign": (campaigns.handle_full, frozenset({campaigns.DOMAIN})),
    "campaigns": (campaigns.handle, frozenset({campaigns.DOMAIN})),
    "schedules": (schedules.handle, frozenset({schedules.DOMAIN})),
    "message-templates": (templates.handle, frozenset({WHATSAPP_DOMAIN})),
    "message-templates-enriched": (templates.handle, frozenset({WHATSAPP_DOMAIN})),
}


def execute(envelope: Mapping[str, Any], store: Store, config: EmulatorConfig, now: float) -> dict[str, Any]:
    """Run a validated command envelope against ``store`` and return the response envelope.

    Failures are answered, not raised: HTTP 200 with ``status: failure`` (docs/blip-api-facts.md §1.4).
    """
    bot_identity = f"{config.bot_id}@{SERVER_DOMAIN}"
    domain = _postmaster_domain(envelope.get("to"))
    response: dict[str, Any] = {
        "id": envelope.get("id"),
        "from": postmaster(domain or SERVER_DOMAIN),
        "to": bot_identity,
        "method": envelope["method"],
        "status": "success",
    }
    # What Blip would have done by now (due campaigns and schedules) happens before any read.
    campaigns.advance(store, config, now)
    schedules.advance(store, config, now)
    try:
        result = _dispatch(envelope, domain, store, config, now, bot_identity)
    except CommandFailure as failure:
        response["status"] = "failure"
        response["reason"] = failure.reason()
    else:
        if result is not None:
            response.update(result)
    response["metadata"] = {"#command.uri": _command_uri(str(envelope["uri"]), bot_identity)}
    return response


def _dispatch(
    envelope: Mapping[str, Any],
    domain: str | None,
    store: Store,
    config: EmulatorConfig,
    now: float,
    bot_identity: str,
) -> Result:
    if domain is None:
        raise CommandFailure(RESOURCE_NOT_SUPPORTED, f"Commands to {envelope.get('to')!r} are not emulated")
    uri = parse_uri(str(envelope["uri"]))
    route = ROUTES.get(uri.resource)
    if route is None:
        raise CommandFailure(RESOURCE_NOT_SUPPORTED, f"Resource {'/' + uri.resource!r} is not emulated")
    handler, domains = route
    if domain not in domains:
        expected = " or ".join(f"postmaster@{d}" for d in sorted(domains))
        raise CommandFailure(
            RESOURCE_NOT_SUPPORTED,
            f"/{uri.resource} is not served by postmaster@{domain}; send it to {expected}",
        )
    command = Command(str(envelope["method"]), uri, envelope, store, config, now, bot_identity)
    return handler(command)


def _postmaster_domain(to: Any) -> str | None:
    """Return the domain of a ``postmaster@<domain>`` address (absent means the server), else None."""
    if to is None or to == "":
        return SERVER_DOMAIN
    if not isinstance(to, str):
        return None
    name, domain = split_identity(bare(to))
    if name.lower() != "postmaster" or not domain:
        return None
    return domain.lower()


def _command_uri(uri: str, bot_identity: str) -> str:
    if uri.startswith("lime://"):
        return uri
    return f"lime://{bot_identity}{uri if uri.startswith('/') else '/' + uri}"
