"""The bot's approved WhatsApp templates: ``get /message-templates`` and the check of a template send.

Blip serves the WhatsApp Business account's templates on ``postmaster@wa.gw.msging.net`` in
Meta's Graph layout, under ``resource.data`` (docs/blip-api-facts.md §13.3);
``/message-templates-enriched`` adds ``previous_category``, ``rejected_reason`` and
``last_updated_time``. Both take ``?templateName=`` and ``$skip``/``$take`` (at most 200).
The paging shape is not documented: the emulator answers one page of ``data`` and nothing
else, so a client must stop on a short page.

A template message that does not match an approved template is accepted (202) and then
fails with a ``failed`` notification, as WhatsApp refuses it after Blip took it: the
descriptions carry Meta's error codes (132000 parameter count, 132001 no such template in
that language, 132005 body too long, 132012 parameter format, 132015 paused, 132016
disabled). Only when the ``enforce_templates`` knob is on (``strict()`` turns it on).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blip_emulator.command import typed
from blip_emulator.lime import INVALID_ARGUMENT, RESOURCE_NOT_FOUND, CommandFailure

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from blip_emulator.command import Command, Result
    from blip_emulator.config import EmulatorConfig

#: The most items one page may ask for (``$take``; notes quoting Blip's docs say 200).
MAX_TAKE = 200
#: Meta's limit on the body once its parameters are filled.
MAX_BODY = 1024
#: Fields only ``/message-templates-enriched`` returns.
ENRICHED_FIELDS = ("previous_category", "rejected_reason", "last_updated_time")
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def _template(name: str, body: str, *, category: str = "UTILITY", **extra: Any) -> dict[str, Any]:
    components: list[dict[str, Any]] = [{"type": "BODY", "text": body}]
    return {
        "name": name,
        "language": "pt_BR",
        "category": category,
        "status": "APPROVED",
        "id": f"emu-{name}",
        "components": components,
        "previous_category": None,
        "rejected_reason": "NONE",
        "last_updated_time": "2026-01-01T00:00:00+0000",
        **extra,
    }


#: The templates of the example DAGs and the demo, plus one paused and one re-categorised.
SEED_TEMPLATES: tuple[dict[str, Any], ...] = (
    _template("order_update", "Olá {{1}}, seu pedido {{2}} saiu para entrega."),
    _template("order_ready", "Olá {{1}}, seu pedido está pronto."),
    _template("pipeline_failed", "Falha no DAG {{1}}: a tarefa {{2}} falhou na execução {{3}}."),
    _template("black_friday", "{{1}}, a Black Friday chegou!", category="MARKETING", status="PAUSED"),
    _template(
        "payment_reminder",
        "Olá {{1}}, sua fatura vence em {{2}}.",
        category="MARKETING",
        previous_category="UTILITY",
    ),
)


def normalise(templates: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Check a registry's templates and return them as a tuple of plain dicts.

    :raises ValueError: a template without a string ``name``, ``language`` or ``status``, or
        whose ``components`` is not a list.
    """
    result = []
    for position, template in enumerate(templates):
        if not isinstance(template, dict):
            raise ValueError(f"templates[{position}] must be an object, got {template!r}")
        for key in ("name", "language", "status"):
            if not isinstance(template.get(key), str) or not template[key]:
                raise ValueError(f"templates[{position}] needs a string {key!r}")
        if not isinstance(template.get("components", []), list):
            raise ValueError(f"templates[{position}].components must be a list")
        result.append(dict(template))
    return tuple(result)


def load_file(path: str) -> tuple[dict[str, Any], ...]:
    """Read a registry from a JSON file: a list of templates, or ``{"data": [...]}`` as Blip answers."""
    value = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(value, dict):
        value = value.get("data")
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected a JSON list of templates or {{'data': [...]}}")
    return normalise(value)


def handle(command: Command) -> Result:
    """Answer ``get /message-templates`` and ``get /message-templates-enriched``."""
    command.require("get")
    if len(command.uri.segments) != 1:
        raise CommandFailure(RESOURCE_NOT_FOUND, "Use /message-templates?templateName=<name>")
    enriched = command.uri.resource == "message-templates-enriched"
    skip = command.uri.int_param("$skip", 0)
    take = command.uri.int_param("$take", 100)
    if not 1 <= take <= MAX_TAKE:
        raise CommandFailure(INVALID_ARGUMENT, f"$take must be between 1 and {MAX_TAKE}, got {take}")
    name = command.uri.query.get("templateName")
    items = [t for t in command.config.templates if name in (None, "", t["name"])]
    page = [_shown(t, enriched) for t in items[skip : skip + take]]
    return typed("application/json", {"data": page})


def _shown(template: Mapping[str, Any], enriched: bool) -> dict[str, Any]:
    if enriched:
        return dict(template)
    return {k: v for k, v in template.items() if k not in ENRICHED_FIELDS}


def registry_problem(content: Any, config: EmulatorConfig) -> str | None:
    """Return why WhatsApp would refuse a template message, or ``None`` (only with ``enforce_templates``)."""
    if not config.enforce_templates or not isinstance(content, dict) or content.get("type") != "template":
        return None
    template = content["template"]
    name, language = template["name"], template["language"]["code"]
    approved = next((t for t in config.templates if t["name"] == name and t["language"] == language), None)
    if approved is None:
        return f"(#132001) Template name does not exist in the translation: {name} ({language})"
    status = str(approved["status"]).upper()
    if status == "PAUSED":
        return f"(#132015) Template is paused: {name}"
    if status == "DISABLED":
        return f"(#132016) Template is disabled: {name}"
    if status != "APPROVED":
        return f"(#132001) Template {name} ({language}) is {status}, not approved"
    return _components_problem(approved, template.get("components") or [])


def _components_problem(approved: Mapping[str, Any], sent: list[Any]) -> str | None:
    parts = {
        str(c.get("type", "")).upper(): c for c in approved.get("components") or [] if isinstance(c, dict)
    }
    given = {
        str(c.get("type", "")).lower(): c for c in sent if isinstance(c, dict) and c.get("type") != "button"
    }
    body_text = str(parts.get("BODY", {}).get("text", ""))
    params = _parameters(given.get("body"))
    expected = placeholders(body_text)
    if len(params) != expected:
        return (
            f"(#132000) Number of parameters does not match the expected number of params: "
            f"body expects {expected}, got {len(params)}"
        )
    header_problem = _header_problem(parts.get("HEADER"), given.get("header"))
    if header_problem:
        return header_problem
    texts = [str(p.get("text", "")) for p in params if isinstance(p, dict)]
    if len(_PLACEHOLDER.sub("", body_text)) + sum(map(len, texts)) > MAX_BODY:
        return f"(#132005) Translated text too long: the body is over {MAX_BODY} characters"
    return _buttons_problem(
        parts.get("BUTTONS"), [c for c in sent if isinstance(c, dict) and c.get("type") == "button"]
    )


def _header_problem(approved: Mapping[str, Any] | None, sent: Any) -> str | None:
    params = _parameters(sent)
    if approved is None:
        return "(#132000) Number of parameters does not match: the template has no header" if params else None
    fmt = str(approved.get("format", "TEXT")).upper()
    if fmt == "TEXT":
        expected = placeholders(str(approved.get("text", "")))
        if len(params) != expected:
            return (
                f"(#132000) Number of parameters does not match: header expects {expected}, got {len(params)}"
            )
        return None
    kinds = [p.get("type") for p in params if isinstance(p, dict)]
    if kinds != [fmt.lower()]:
        return f"(#132012) Parameter format does not match format in the created template: header is {fmt}"
    return None


def _buttons_problem(approved: Mapping[str, Any] | None, sent: list[dict[str, Any]]) -> str | None:
    buttons = list((approved or {}).get("buttons") or [])
    for button in sent:
        index = button.get("index")
        kind = str(button.get("sub_type", "")).upper()
        if not isinstance(index, int) or not 0 <= index < len(buttons):
            return f"(#132000) Number of parameters does not match: the template has no button {index}"
        if str(buttons[index].get("type", "")).upper() != kind:
            return f"(#132012) Parameter format does not match: button {index} is not {kind}"
    dynamic = {
        i
        for i, b in enumerate(buttons)
        if str(b.get("type", "")).upper() == "URL" and placeholders(str(b.get("url", "")))
    }
    missing = sorted(dynamic - {b.get("index") for b in sent})
    if missing:
        return f"(#132000) Number of parameters does not match: URL button {missing[0]} needs its parameter"
    return None


def _parameters(component: Any) -> list[Any]:
    if not isinstance(component, dict):
        return []
    params = component.get("parameters")
    return list(params) if isinstance(params, list) else []


def placeholders(text: str) -> int:
    """Return how many parameters a template text takes: its highest ``{{n}}``."""
    return max((int(n) for n in _PLACEHOLDER.findall(text)), default=0)
