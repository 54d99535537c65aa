"""What a resource handler receives (:class:`Command`) and small helpers shared by handlers."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from blip_emulator.lime import (
    COLLECTION_TYPE,
    INVALID_ARGUMENT,
    METHOD_NOT_SUPPORTED,
    CommandFailure,
    collection,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from blip_emulator.config import EmulatorConfig
    from blip_emulator.state import Store
    from blip_emulator.uris import CommandUri

#: What a handler returns: ``{"type": ..., "resource": ...}`` for a ``get``, else ``None``.
Result = dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Command:
    """A validated command envelope plus everything a handler needs to answer it.

    :param method: LIME method (``get``, ``set``...).
    :param uri: The parsed ``uri``.
    :param envelope: The envelope as received.
    :param store: The bot's state (the caller holds the lock).
    :param config: Settings snapshot for this request.
    :param now: ``time.time()`` of receipt.
    :param bot_identity: ``<bot>@msging.net``.
    """

    method: str
    uri: CommandUri
    envelope: Mapping[str, Any]
    store: Store
    config: EmulatorConfig
    now: float
    bot_identity: str

    @property
    def resource(self) -> Any:
        """Return the envelope's ``resource`` (``None`` when absent)."""
        return self.envelope.get("resource")

    def require(self, *methods: str) -> None:
        """Fail with code 63 unless the method is one of ``methods``."""
        if self.method not in methods:
            path = "/" + "/".join(self.uri.segments)
            raise CommandFailure(METHOD_NOT_SUPPORTED, f"Method {self.method!r} is not supported on {path}")


def typed(mime_type: str, resource: Any) -> dict[str, Any]:
    """Return a handler result carrying a typed resource."""
    return {"type": mime_type, "resource": resource}


def page(
    items: Collection[Any], uri: CommandUri, item_type: str, *, max_take: int | None = None
) -> dict[str, Any]:
    """Return one ``$skip``/``$take`` page of ``items`` as a typed collection with ``total``.

    :param max_take: Largest ``$take`` allowed; larger values fail with code 64.
    """
    skip = uri.int_param("$skip", 0)
    take = uri.int_param("$take", 100)
    if take < 1 or (max_take is not None and take > max_take):
        limit = f"between 1 and {max_take}" if max_take is not None else "at least 1"
        raise CommandFailure(INVALID_ARGUMENT, f"$take must be {limit}, got {take}")
    values = list(items)
    return typed(COLLECTION_TYPE, collection(values[skip : skip + take], item_type, len(values)))
