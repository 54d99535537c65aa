"""Parse the ``uri`` of a command envelope the way Blip does (docs/blip-api-facts.md §2, §5, §7, §11)."""

from __future__ import annotations

import dataclasses
from urllib.parse import unquote, unquote_plus

from blip_emulator.lime import INVALID_ARGUMENT, CommandFailure


@dataclasses.dataclass(frozen=True)
class CommandUri:
    """A command URI split into decoded parts.

    :param authority: Host of an absolute ``lime://`` URI (e.g. ``wa.gw.msging.net``), else empty.
    :param segments: Path segments, each percent-decoded after splitting on ``/``.
    :param query: Query parameters, decoded after splitting on ``&`` and ``=``.
    """

    authority: str
    segments: tuple[str, ...]
    query: dict[str, str]

    @property
    def resource(self) -> str:
        """Return the first path segment (``contacts``, ``lists``...), lowercased."""
        return self.segments[0].lower() if self.segments else ""

    def int_param(self, name: str, default: int) -> int:
        """Return a non-negative integer query parameter, failing with code 64 when malformed."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise CommandFailure(INVALID_ARGUMENT, f"{name} must be an integer, got {raw!r}") from None
        if value < 0:
            raise CommandFailure(INVALID_ARGUMENT, f"{name} must not be negative, got {value}")
        return value

    def flag(self, name: str) -> bool:
        """Return whether a boolean query parameter is ``true`` (case-insensitive)."""
        return self.query.get(name, "").lower() == "true"


def parse_uri(uri: str) -> CommandUri:
    """Split a command URI into authority, decoded path segments and decoded query.

    Path segments keep a raw ``+`` (Blip needs ``%2B`` or a raw ``+`` in ``+5531...`` and
    ``bot+senders``); query values decode ``+`` as a space, as an ASP.NET server would.

    :param uri: ``/contacts?$take=10`` or ``lime://wa.gw.msging.net/accounts/%2B5531...``.
    """
    authority = ""
    rest = uri
    if "://" in uri:
        scheme, _, after = uri.partition("://")
        if scheme.lower() != "lime":
            raise CommandFailure(INVALID_ARGUMENT, f"Unsupported URI scheme {scheme!r}")
        authority, slash, path = after.partition("/")
        rest = slash + path
    path, _, query_string = rest.partition("?")
    segments = tuple(unquote(part) for part in path.split("/") if part)
    return CommandUri(authority=authority.lower(), segments=segments, query=_parse_query(query_string))


def _parse_query(query_string: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for pair in query_string.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        query[unquote_plus(name)] = unquote_plus(value)
    return query
