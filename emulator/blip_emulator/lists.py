"""Distribution-list commands (docs/blip-api-facts.md §7), all sent to ``postmaster@broadcast.msging.net``."""

from __future__ import annotations

from blip_emulator.command import Command, Result, page, typed
from blip_emulator.delivery import list_message_stats
from blip_emulator.lime import (
    APPLICATION_ERROR,
    IDENTITY_TYPE,
    INVALID_ARGUMENT,
    LIST_MESSAGE_TYPE,
    NOT_ALLOWED,
    RESOURCE_NOT_SUPPORTED,
    CommandFailure,
    bare,
    not_found,
)
from blip_emulator.state import list_identity


def handle(command: Command) -> Result:
    """Dispatch a ``/lists`` command on its path depth and method."""
    segments = command.uri.segments
    if len(segments) == 1:
        command.require("get", "set")
        return _lists(command)
    list_id = list_identity(segments[1])
    if len(segments) == 2:
        command.require("get", "delete")
        return _one_list(command, list_id)
    if segments[2] == "recipients" and len(segments) == 3:
        command.require("get", "set")
        return _recipients(command, list_id)
    if segments[2] == "recipients" and len(segments) == 4:
        command.require("get", "delete")
        return _member(command, list_id, segments[3])
    if segments[2] == "messages" and len(segments) == 4:
        command.require("get")
        return _message_stats(command, list_id, segments[3])
    raise CommandFailure(RESOURCE_NOT_SUPPORTED, "This /lists resource is not emulated")


def _lists(command: Command) -> Result:
    store = command.store
    if command.method == "get":
        return page([identity for identity, _ in store.lists.values()], command.uri, IDENTITY_TYPE)
    resource = command.resource
    identity = resource.get("identity") if isinstance(resource, dict) else None
    if not isinstance(identity, str) or not identity:
        raise CommandFailure(INVALID_ARGUMENT, "The resource must be a distribution list with an 'identity'")
    # Creating a list that already exists succeeds and keeps its members.
    store.create_list(list_identity(identity))
    return None


def _one_list(command: Command, list_id: str) -> Result:
    store = command.store
    if store.members(list_id) is None:
        raise not_found(f"list {list_id}")
    if command.method == "get":
        return typed(IDENTITY_TYPE, store.lists[list_id.lower()][0])
    if list_id.lower() == store.senders_list.lower():
        raise CommandFailure(NOT_ALLOWED, "The automatic senders list cannot be deleted")
    del store.lists[list_id.lower()]
    return None


def _recipients(command: Command, list_id: str) -> Result:
    store = command.store
    if command.method == "get":
        members = store.members(list_id)
        if members is None:
            raise not_found(f"list {list_id}")
        return page(list(members.values()), command.uri, IDENTITY_TYPE)
    resource = command.resource
    member = resource.get("identity") if isinstance(resource, dict) else resource
    if not isinstance(member, str) or not member:
        raise CommandFailure(INVALID_ARGUMENT, "The resource must be the member identity as a string")
    if not store.add_member(list_id, bare(member)):
        # SDKCS ManageListAction catches 101, creates the list and retries.
        raise CommandFailure(APPLICATION_ERROR, f"The list {list_id} does not exist")
    return None


def _member(command: Command, list_id: str, member: str) -> Result:
    members = command.store.members(list_id)
    key = bare(member).lower()
    if command.method == "get":
        # SDKCS HasRecipientAsync: success means a member, 67 means not.
        if members is None or key not in members:
            raise not_found(f"recipient {member} of {list_id}")
        return typed(IDENTITY_TYPE, members[key])
    if members is None:
        raise CommandFailure(APPLICATION_ERROR, f"The list {list_id} does not exist")
    if key not in members:
        raise CommandFailure(INVALID_ARGUMENT, f"{member} is not a recipient of {list_id}")
    del members[key]
    return None


def _message_stats(command: Command, list_id: str, message_id: str) -> Result:
    sent = [m for m in command.store.by_id.get(message_id, []) if bare(m.to).lower() == list_id.lower()]
    if not sent:
        raise not_found(f"message {message_id} to {list_id}")
    return typed(LIST_MESSAGE_TYPE, list_message_stats(sent[-1], command.now))
