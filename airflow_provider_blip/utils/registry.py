"""Compare a template spec with the approved template in the bot's registry (no I/O).

Blip serves the WhatsApp Business account's templates in Meta's layout
(docs/blip-api-facts.md §13.3): :meth:`ApprovedTemplate.from_graph` reads one item, ignoring
fields it does not know, and :func:`check_spec` says, before anything is looked up or sent,
whether a :class:`~airflow_provider_blip.utils.templates.TemplateSpec` can be sent with it:
the template exists in that language, it is APPROVED, the body parameters fill exactly its
placeholders, the header and the dynamic buttons match, and the body fits 1,024 characters.
Every mismatch is named in one :class:`~airflow_provider_blip.exceptions.BlipConfigError`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.templates import MAX_BODY_TEXT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_blip.utils.templates import TemplateSpec

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
#: The only status Meta lets a business send.
APPROVED = "APPROVED"
_SPEC_BUTTON = {"quick_reply": "QUICK_REPLY", "url": "URL"}


def placeholders(text: str) -> int:
    """Return how many parameters a template text takes: its highest ``{{n}}``."""
    return max((int(n) for n in _PLACEHOLDER.findall(text)), default=0)


@dataclasses.dataclass(frozen=True)
class ApprovedButton:
    """One button of an approved template.

    :param index: its position, the ``index`` a send names.
    :param type: Meta's type: ``QUICK_REPLY``, ``URL``, ``PHONE_NUMBER``, ``COPY_CODE``...
    :param variables: placeholders in its URL (a dynamic URL button has one).
    """

    index: int
    type: str
    variables: int = 0


@dataclasses.dataclass(frozen=True)
class ApprovedTemplate:
    """One template of the registry, as far as a send depends on it.

    :param name: the template's name.
    :param language: its language code, e.g. ``pt_BR``.
    :param status: Meta's status, upper case: ``APPROVED``, ``PENDING``, ``REJECTED``,
        ``PAUSED``, ``DISABLED``.
    :param category: ``UTILITY``, ``MARKETING`` or ``AUTHENTICATION`` (prices differ).
    :param previous_category: set when Meta re-categorised the template (enriched registry only).
    :param header_format: ``TEXT``, ``IMAGE``, ``VIDEO``, ``DOCUMENT``..., ``None`` without a header.
    :param header_variables: placeholders in a text header.
    :param body_text: the approved body, with its ``{{n}}``.
    :param buttons: the buttons, in index order.
    """

    name: str
    language: str
    status: str
    category: str | None = None
    previous_category: str | None = None
    header_format: str | None = None
    header_variables: int = 0
    body_text: str = ""
    buttons: tuple[ApprovedButton, ...] = ()

    @property
    def body_placeholders(self) -> int:
        """How many body parameters a send must give."""
        return placeholders(self.body_text)

    @property
    def label(self) -> str:
        return f"template {self.name!r} ({self.language})"

    @classmethod
    def from_graph(cls, item: Any) -> ApprovedTemplate | None:
        """Read one registry item; ``None`` when it has no name or language (not a template)."""
        if not isinstance(item, Mapping):
            return None
        name, language = item.get("name"), item.get("language")
        if not isinstance(name, str) or not isinstance(language, str):
            return None
        parts = {
            str(c.get("type", "")).upper(): c for c in item.get("components") or [] if isinstance(c, Mapping)
        }
        header = parts.get("HEADER")
        buttons = (parts.get("BUTTONS") or {}).get("buttons") or []
        return cls(
            name=name,
            language=language,
            status=str(item.get("status") or "").upper(),
            category=_upper(item.get("category")),
            previous_category=_upper(item.get("previous_category")),
            header_format=str(header.get("format") or "TEXT").upper() if header is not None else None,
            header_variables=placeholders(str(header.get("text") or "")) if header is not None else 0,
            body_text=str((parts.get("BODY") or {}).get("text") or ""),
            buttons=tuple(
                ApprovedButton(i, str(b.get("type") or "").upper(), placeholders(str(b.get("url") or "")))
                for i, b in enumerate(buttons)
                if isinstance(b, Mapping)
            ),
        )


def _upper(value: Any) -> str | None:
    return str(value).upper() if isinstance(value, str) and value else None


@dataclasses.dataclass(frozen=True)
class RegistryCheck:
    """What :func:`check_spec` found, when the spec can be sent.

    :param template: the approved template.
    :param spec: the spec, its body limit lowered by the approved body's own text.
    :param warnings: things to log, e.g. a re-categorisation.
    """

    template: ApprovedTemplate
    spec: TemplateSpec
    warnings: tuple[str, ...] = ()


def check_spec(
    spec: TemplateSpec, registry: Sequence[ApprovedTemplate], *, fail_on_recategorized: bool = False
) -> RegistryCheck:
    """Check a validated spec against the registry's templates of the same name.

    :param spec: what the DAG will send.
    :param registry: the registry's templates (any names; others are ignored).
    :param fail_on_recategorized: fail, rather than warn, when Meta re-categorised the template.
    :raises BlipConfigError: naming the template and every difference found.
    """
    template = _find(spec, registry)
    if template.status != APPROVED:
        raise BlipConfigError(
            f"{template.label} is {template.status or 'of unknown status'}: only APPROVED templates "
            "can be sent; nothing was looked up or sent"
        )
    problems = [
        *_body_problems(spec, template),
        *_header_problems(spec, template),
        *_button_problems(spec, template),
    ]
    static = len(_PLACEHOLDER.sub("", template.body_text))
    limit = max(MAX_BODY_TEXT - static, 0)
    literals = sum(len(e.strip()) for e in spec.body if isinstance(e, str))
    if static + literals > MAX_BODY_TEXT:
        problems.append(f"the body would have {static + literals} characters, more than {MAX_BODY_TEXT}")
    warnings = []
    recategorized = template.previous_category and template.previous_category != template.category
    if recategorized:
        change = (
            f"{template.label} was re-categorised by Meta from {template.previous_category} to "
            f"{template.category}: its price changed"
        )
        if fail_on_recategorized:
            problems.append(f"{change} (fail_on_recategorized=True)")
        else:
            warnings.append(change)
    if problems:
        raise BlipConfigError(f"{template.label} does not match the DAG: {'; '.join(problems)}")
    return RegistryCheck(template, dataclasses.replace(spec, body_limit=limit), tuple(warnings))


def _find(spec: TemplateSpec, registry: Sequence[ApprovedTemplate]) -> ApprovedTemplate:
    named = [t for t in registry if t.name == spec.name]
    match = next((t for t in named if t.language == spec.language), None)
    if match is not None:
        return match
    if not named:
        raise BlipConfigError(
            f"template {spec.name!r} is not in the bot's template registry; nothing was looked up or sent"
        )
    others = ", ".join(sorted({t.language for t in named}))
    raise BlipConfigError(
        f"template {spec.name!r} has no {spec.language} version in the registry (it has: {others}); "
        "nothing was looked up or sent"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _body_problems(spec: TemplateSpec, template: ApprovedTemplate) -> list[str]:
    expected, given = template.body_placeholders, len(spec.body)
    if expected == given:
        return []
    columns = [e.get("column") for e in spec.body if isinstance(e, Mapping)]
    if len(columns) == given and given:
        what = f"{_plural(given, 'column')}: {', '.join(map(str, columns))}"
    elif given:
        names = [f"column {e['column']}" if isinstance(e, Mapping) else "a literal" for e in spec.body]
        what = f"{_plural(given, 'parameter')}: {', '.join(names)}"
    else:
        what = "none"
    return [f"body has {_plural(expected, 'placeholder')}, the DAG gives {what}"]


def _header_problems(spec: TemplateSpec, template: ApprovedTemplate) -> list[str]:
    given = str(spec.header["type"]).upper() if spec.header is not None else None
    fmt = template.header_format
    if fmt is None:
        return [f"the template has no header, the DAG gives one ({given})"] if given else []
    if fmt == "TEXT":
        if template.header_variables and given != "TEXT":
            return [f"header is TEXT with a variable, the DAG gives {given or 'none'}"]
        if not template.header_variables and given:
            return [f"header is TEXT without variables, the DAG gives a parameter ({given})"]
        return []
    if given != fmt:
        return [f"header is {fmt}, the DAG gives {given or 'none'}"]
    return []


def _button_problems(spec: TemplateSpec, template: ApprovedTemplate) -> list[str]:
    problems = []
    given: set[int] = set()
    for button in spec.buttons:
        index, wanted = button["index"], _SPEC_BUTTON[button["sub_type"]]
        given.add(index)
        approved = template.buttons[index] if index < len(template.buttons) else None
        if approved is None:
            has = _plural(len(template.buttons), "button")
            problems.append(f"the DAG gives button {index}, the template has {has}")
        elif approved.type != wanted:
            problems.append(f"button {index} is {approved.type}, the DAG gives a {wanted} parameter")
        elif wanted == "URL" and not approved.variables:
            problems.append(f"button {index} is a static URL, the DAG gives it a suffix")
    for approved in template.buttons:
        if approved.type == "URL" and approved.variables and approved.index not in given:
            problems.append(f"URL button {approved.index} needs its suffix, the DAG gives none")
    return problems
