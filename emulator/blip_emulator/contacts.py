"""``/contacts`` commands (docs/blip-api-facts.md §6).

They go to ``postmaster@crm.msging.net`` or ``postmaster@msging.net``.
"""

from __future__ import annotations

from typing import Any

from blip_emulator.command import Command, Result, page, typed
from blip_emulator.lime import (
    CONTACT_TYPE,
    INVALID_ARGUMENT,
    RESOURCE_NOT_SUPPORTED,
    CommandFailure,
    not_found,
)
from blip_emulator.odata import ODataError, compile_filter

#: Paging limits of DOCS extensions/contacts.md.
MAX_TAKE_UNFILTERED = 30_000
MAX_WINDOW_FILTERED = 10_000


def handle(command: Command) -> Result:
    """Dispatch a ``/contacts`` command on its path depth and method."""
    segments = command.uri.segments
    if len(segments) == 1:
        command.require("get", "set", "merge")
        return _query(command) if command.method == "get" else _write(command)
    if len(segments) == 2:
        command.require("get", "delete")
        return _single(command, segments[1])
    raise CommandFailure(RESOURCE_NOT_SUPPORTED, "Only /contacts and /contacts/{identity} are emulated")


def _query(command: Command) -> Result:
    uri = command.uri
    text = uri.query.get("$filter")
    contacts: list[dict[str, Any]] = list(command.store.contacts.values())
    if not text:
        return page(contacts, uri, CONTACT_TYPE, max_take=MAX_TAKE_UNFILTERED)
    window = uri.int_param("$skip", 0) + uri.int_param("$take", 100)
    if window > MAX_WINDOW_FILTERED:
        raise CommandFailure(
            INVALID_ARGUMENT,
            f"With $filter, $skip + $take must be at most {MAX_WINDOW_FILTERED} (got {window}); "
            "page by lastmessagedate windows instead",
        )
    try:
        predicate = compile_filter(text)
    except ODataError as error:
        raise CommandFailure(INVALID_ARGUMENT, f"Invalid $filter: {error}") from None
    return page([c for c in contacts if predicate(c)], uri, CONTACT_TYPE)


def _write(command: Command) -> Result:
    resource = command.resource
    if not isinstance(resource, dict) or not isinstance(resource.get("identity"), str):
        raise CommandFailure(INVALID_ARGUMENT, "The resource must be a contact with an 'identity'")
    # DOCS: set replaces the whole contact (omitted fields are lost); merge updates fields.
    command.store.put_contact(resource, merge=command.method == "merge")
    return None


def _single(command: Command, identity: str) -> Result:
    contacts = command.store.contacts
    key = identity.lower()
    if key not in contacts:
        raise not_found(f"contact {identity}")
    if command.method == "delete":
        del contacts[key]
        return None
    return typed(CONTACT_TYPE, contacts[key])
