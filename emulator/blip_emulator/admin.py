"""Control endpoints under ``/_emulator/``: no auth, loopback clients only, not counted in stats.

=====  ==========================  ==================================================
GET    ``/_emulator/health``       ``{"status": "ok", "url"...}``
GET    ``/_emulator/records``      records as a JSON list; ``?channel=messages`` filters
GET    ``/_emulator/stats``        the counters of :meth:`BlipEmulator.stats`
GET    ``/_emulator/config``       current knobs
POST   ``/_emulator/config``       JSON object of knobs, applied like ``configure()``
POST   ``/_emulator/reset``        clear state and records, keep knobs
POST   ``/_emulator/contacts``     ``{"n": 100, "source": "WhatsApp"}`` or ``{"contacts": [...]}``
POST   ``/_emulator/templates``    ``{"templates": [...]}`` or ``{"path": "x.json"}``, optional ``"enforce"``
=====  ==========================  ==================================================
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from blip_emulator.protocol import Reply, Request, json_reply

if TYPE_CHECKING:
    from blip_emulator.engine import Engine


def handle(engine: Engine, request: Request) -> Reply:
    """Answer one admin request."""
    if not _is_loopback(request.peer):
        return json_reply(403, {"error": "admin endpoints are only served to loopback clients"})
    name = request.path.removeprefix("/_emulator/").strip("/")
    getters = {"health": _health, "records": _records, "stats": _stats, "config": _config}
    posters = {"config": _configure, "reset": _reset, "contacts": _contacts, "templates": _templates}
    table = getters if request.method == "GET" else posters if request.method == "POST" else {}
    handler = table.get(name)
    if handler is None:
        known = name in getters or name in posters
        return json_reply(
            405 if known else 404, {"error": f"no admin endpoint {request.method} {request.path}"}
        )
    try:
        return handler(engine, request)
    except (ValueError, TypeError) as error:
        return json_reply(400, {"error": str(error)})


def _health(engine: Engine, request: Request) -> Reply:
    return json_reply(200, {"status": "ok", "bot_identity": engine.bot_identity})


def _records(engine: Engine, request: Request) -> Reply:
    channel = parse_qs(request.query).get("channel", [None])[0]
    return json_reply(200, [record.to_dict() for record in engine.recorder.records(channel)])


def _stats(engine: Engine, request: Request) -> Reply:
    return json_reply(200, engine.recorder.stats())


def _config(engine: Engine, request: Request) -> Reply:
    return json_reply(200, engine.config.to_dict())


def _configure(engine: Engine, request: Request) -> Reply:
    knobs = _body(request)
    return json_reply(200, engine.configure(**knobs).to_dict())


def _reset(engine: Engine, request: Request) -> Reply:
    engine.reset()
    return json_reply(200, {"reset": True})


def _contacts(engine: Engine, request: Request) -> Reply:
    body = _body(request)
    if "contacts" in body:
        identities = engine.add_contacts(body["contacts"])
    else:
        count = body.get("n")
        if not isinstance(count, int) or count < 0:
            raise ValueError("send {'n': <count>} or {'contacts': [...]}")
        identities = engine.add_contacts(
            count, source=str(body.get("source", "WhatsApp")), start=body.get("start")
        )
    return json_reply(200, {"added": len(identities), "identities": identities})


def _templates(engine: Engine, request: Request) -> Reply:
    body = _body(request)
    source = body.get("path", body.get("templates"))
    if source is None:
        raise ValueError("send {'templates': [...]} or {'path': 'templates.json'}")
    knobs: dict[str, Any] = {"templates": source}
    if "enforce" in body:
        knobs["enforce_templates"] = bool(body["enforce"])
    config = engine.configure(**knobs)
    return json_reply(200, {"templates": len(config.templates), "enforce": config.enforce_templates})


def _body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    value = json.loads(request.body)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def _is_loopback(peer: str) -> bool:
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)
