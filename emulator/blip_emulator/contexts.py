"""``/contexts`` commands (docs/blip-api-facts.md §5), sent to ``postmaster@msging.net`` (the default)."""

from __future__ import annotations

from blip_emulator.command import Command, Result, page, typed
from blip_emulator.lime import (
    CONTEXT_TYPE,
    IDENTITY_TYPE,
    INVALID_ARGUMENT,
    RESOURCE_NOT_SUPPORTED,
    TEXT_TYPE,
    CommandFailure,
    not_found,
)


def handle(command: Command) -> Result:
    """Dispatch a ``/contexts`` command on its path depth and method."""
    segments = command.uri.segments
    if len(segments) == 1:
        command.require("get")
        identities = [identity for identity, names in command.store.contexts.items() if names]
        return page(identities, command.uri, IDENTITY_TYPE)
    if len(segments) == 2:
        command.require("get")
        return _names(command, segments[1])
    if len(segments) == 3:
        command.require("get", "set", "delete")
        return _variable(command, segments[1], segments[2])
    raise CommandFailure(RESOURCE_NOT_SUPPORTED, "Only /contexts/{identity}[/{name}] is emulated")


def _names(command: Command, identity: str) -> Result:
    variables = command.store.context_of(identity)
    if command.uri.flag("withContextValues"):
        items = [{"name": name, "type": kind, "value": value} for name, (kind, value) in variables.items()]
        return page(items, command.uri, CONTEXT_TYPE)
    return page(list(variables), command.uri, TEXT_TYPE)


def _variable(command: Command, identity: str, name: str) -> Result:
    # The Builder lower-cases variable names (SDKCS ExtensionContext); '?expiration=' is ignored.
    name = name.lower()
    variables = command.store.context_of(identity)
    if command.method == "set":
        if "resource" not in command.envelope:
            raise CommandFailure(INVALID_ARGUMENT, "A context set needs a 'resource' (the value)")
        kind = command.envelope.get("type") or TEXT_TYPE
        variables[name] = (str(kind), command.resource)
        return None
    if name not in variables:
        raise not_found(f"context variable {name} of {identity}")
    if command.method == "delete":
        del variables[name]
        return None
    kind, value = variables[name]
    return typed(kind, value)
