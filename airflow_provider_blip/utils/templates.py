"""Build the content of a WhatsApp template message for Blip (docs/blip-api-facts.md §4; no I/O).

A :class:`TemplateSpec` says which template to send and where each of its parameters comes
from: a literal, the same for every recipient, or a column of the audience row. It is checked
once with :meth:`TemplateSpec.validate` before any send; :func:`render_content` then fills it
per recipient and refuses rows whose values WhatsApp would refuse, so one bad row costs one
recipient and not a failed send. Column names match the row's whatever their case and the
spaces around them (``{"column": "nome"}`` reads a ``Nome`` column).

Spec forms::

    header={"type": "text", "text": "Olá"}                  # or {"type": "text", "column": "title"}
    header={"type": "image", "link": "https://..."}         # image, video; or {"type": ..., "column": "url"}
    header={"type": "document", "link_column": "boleto", "filename": "boleto.pdf"}
    body=["literal", {"column": "name"}]                    # fills {{1}}, {{2}}, ... in order
    buttons=[{"sub_type": "quick_reply", "index": 0, "payload": {"column": "order"}},
             {"sub_type": "url", "index": 1, "text": "track/123"}]
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_blip.exceptions import BlipConfigError, InvalidValue, MissingValue

HEADER_TYPES = ("text", "image", "video", "document")
BUTTON_SUB_TYPES = ("quick_reply", "url")
POLICIES = ("deterministic", "fallback")

# Meta's rule for template names: lowercase letters, digits and underscores, at most 512.
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
# Meta's language codes: `pt_BR`, `en`, `en_US`, `fil`, `zh_CN`.
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2})?$")
# WhatsApp refuses a body parameter with a newline or tab, or with more than four spaces in a
# row (Cloud API error 132018, "Param text cannot have new-line/tab characters or more than
# 4 consecutive spaces"): the whole send fails, so the row is refused here instead.
_BODY_FORBIDDEN = re.compile(r"[\n\r\t]| {5,}")
#: Meta's limits on the text of a template message, checked on the values before any send.
#: A text header is at most 60 characters, so its one parameter is too.
MAX_HEADER_TEXT = 60
#: The body is at most 1024 characters once filled: its parameters together cannot be more.
#: (Meta allows more when the body is the template's only component; we cannot see the
#: approved template from here, so the stricter limit applies.)
MAX_BODY_TEXT = 1024
#: A URL button's URL is at most 2000 characters, the suffix from the row included. The
#: template's own part of the URL is not known here, so only the suffix is checked.
MAX_URL_BUTTON = 2000
# A WhatsApp template has at most 10 buttons.
_MAX_BUTTON_INDEX = 9

# Keys each header type takes: the value's name, and where a column may give it instead.
_HEADER_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "text": {"text": ("column",)},
    "image": {"link": ("column", "link_column")},
    "video": {"link": ("column", "link_column")},
    "document": {"link": ("column", "link_column"), "filename": ("filename_column",)},
}
_OPTIONAL_HEADER_VALUES = {"filename"}
_BUTTON_VALUE = {"quick_reply": "payload", "url": "text"}


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where one parameter's value comes from: a literal or a column of the row."""

    field: str
    literal: str | None = None
    column: str | None = None

    @property
    def label(self) -> str:
        return f"{self.field} (column {self.column!r})" if self.column is not None else self.field


@dataclasses.dataclass(frozen=True)
class TemplateSpec:
    """Which WhatsApp template to send, and where each of its parameters comes from.

    :param name: the approved template's name.
    :param language: its language code, e.g. ``pt_BR``.
    :param policy: the language policy; ``deterministic`` (``fallback`` is deprecated by Meta).
    :param namespace: the template namespace, needed by older (on-premise) WhatsApp bots only.
    :param header: the header parameter, see the module docstring; ``None`` for none.
    :param body: the body parameters in ``{{1}}``, ``{{2}}`` order: literal strings or
        ``{"column": name}``.
    :param buttons: the dynamic buttons: ``quick_reply`` with a ``payload`` or ``url`` with the
        ``text`` appended to the button's URL, each literal or ``{"column": name}``.
    :param body_limit: the most characters the body parameters may have together: 1,024, less
        the approved body's own text once the registry check has read it.
    """

    name: str
    language: str = "pt_BR"
    policy: str = "deterministic"
    namespace: str | None = None
    header: dict[str, Any] | None = None
    body: list[str | dict[str, str]] = dataclasses.field(default_factory=list)
    buttons: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    body_limit: int = MAX_BODY_TEXT

    def validate(self) -> None:
        """Check the whole spec, literals included; raise ``ValueError`` naming what is wrong."""
        if not isinstance(self.name, str) or not _TEMPLATE_NAME.fullmatch(self.name):
            raise BlipConfigError(
                f"template_name {self.name!r} is not a WhatsApp template name "
                "(lowercase letters, digits and underscores)"
            )
        if not isinstance(self.language, str) or not _LANGUAGE.fullmatch(self.language):
            hint = (
                " (use an underscore: 'pt_BR')"
                if isinstance(self.language, str) and "-" in self.language
                else ""
            )
            raise BlipConfigError(
                f"language {self.language!r} is not a WhatsApp language code such as 'pt_BR'{hint}"
            )
        if self.policy not in POLICIES:
            raise BlipConfigError(f"policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        if self.namespace is not None and (not isinstance(self.namespace, str) or not self.namespace.strip()):
            raise BlipConfigError(f"namespace must be a non-empty string or None, got {self.namespace!r}")
        for source in _sources(self):  # also checks the shape of header, body and buttons
            if source.literal is not None:
                _check(source, source.literal)
        literals = [s for s in _body(self) if s.literal is not None]
        texts = [s.literal.strip() for s in literals if s.literal is not None]
        _check_body_total(literals, texts, self.body_limit)

    def columns(self) -> set[str]:
        """Return every column of the audience the spec reads."""
        return {s.column for s in _sources(self) if s.column is not None}


def _source(field: str, entry: object) -> _Source:
    """Read a value entry: a literal string or ``{"column": name}``."""
    if isinstance(entry, str):
        return _Source(field, literal=entry)
    if isinstance(entry, Mapping) and set(entry) == {"column"}:
        return _column(field, entry["column"])
    raise BlipConfigError(f"{field} must be a literal string or {{'column': name}}, got {entry!r}")


def _column(field: str, name: object) -> _Source:
    if not isinstance(name, str) or not name.strip():
        raise BlipConfigError(f"{field}: a column name must be a non-empty string, got {name!r}")
    return _Source(field, column=name)


def _header_sources(header: Mapping[str, Any]) -> list[_Source]:
    if not isinstance(header, Mapping):
        raise BlipConfigError(
            f"header must be a dict such as {{'type': 'image', 'link': ...}}, got {header!r}"
        )
    kind = header.get("type")
    if kind not in _HEADER_KEYS:
        raise BlipConfigError(f"header type {kind!r} is not one of {', '.join(HEADER_TYPES)}")
    allowed = {"type"}
    sources = []
    for value, column_keys in _HEADER_KEYS[kind].items():
        allowed.update((value, *column_keys))
        given = [k for k in (value, *column_keys) if header.get(k) is not None]
        field = f"header.{value}"
        if len(given) > 1:
            raise BlipConfigError(f"{kind} header: give only one of {', '.join(given)}")
        if not given:
            if value in _OPTIONAL_HEADER_VALUES:
                continue
            raise BlipConfigError(
                f"{kind} header needs {value!r} (a literal) or {column_keys[0]!r} (a column)"
            )
        key = given[0]
        if key == value:
            if not isinstance(header[key], str):
                raise BlipConfigError(f"{field} must be a string, got {header[key]!r}")
            sources.append(_Source(field, literal=header[key]))
        else:
            sources.append(_column(field, header[key]))
    unknown = sorted(set(header) - allowed)
    if unknown:
        raise BlipConfigError(f"{kind} header: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return sources


def _button_source(position: int, button: object) -> tuple[int, str, _Source]:
    if not isinstance(button, Mapping):
        raise BlipConfigError(f"buttons[{position}] must be a dict, got {button!r}")
    sub_type = button.get("sub_type")
    if sub_type not in _BUTTON_VALUE:
        raise BlipConfigError(
            f"buttons[{position}]: sub_type {sub_type!r} is not one of {', '.join(BUTTON_SUB_TYPES)}"
        )
    index = button.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= _MAX_BUTTON_INDEX:
        raise BlipConfigError(
            f"buttons[{position}]: index must be an int from 0 to {_MAX_BUTTON_INDEX}, got {index!r}"
        )
    value = _BUTTON_VALUE[sub_type]
    allowed = {"sub_type", "index", value}
    unknown = sorted(set(button) - allowed)
    if unknown:
        raise BlipConfigError(
            f"buttons[{position}] ({sub_type}): unknown key(s) {unknown}; allowed: {sorted(allowed)}"
        )
    if button.get(value) is None:
        raise BlipConfigError(
            f"buttons[{position}] ({sub_type}) needs {value!r}: a literal or {{'column': name}}"
        )
    return index, sub_type, _source(f"button[{index}].{value}", button[value])


def _buttons(spec: TemplateSpec) -> list[tuple[int, str, _Source]]:
    if not isinstance(spec.buttons, list | tuple):
        raise BlipConfigError(f"buttons must be a list of dicts, got {spec.buttons!r}")
    buttons = sorted((_button_source(i, b) for i, b in enumerate(spec.buttons)), key=lambda b: b[0])
    indexes = [b[0] for b in buttons]
    duplicated = sorted({i for i in indexes if indexes.count(i) > 1})
    if duplicated:
        raise BlipConfigError(f"buttons: index {duplicated[0]} is used more than once")
    return buttons


def _body(spec: TemplateSpec) -> list[_Source]:
    if not isinstance(spec.body, list | tuple):
        raise BlipConfigError("body must be a list of literal strings and {'column': name} entries")
    return [_source(f"body[{n}]", entry) for n, entry in enumerate(spec.body, start=1)]


def _sources(spec: TemplateSpec) -> list[_Source]:
    header = _header_sources(spec.header) if spec.header is not None else []
    return [*header, *_body(spec), *(b[2] for b in _buttons(spec))]


def _too_long(label: str, size: int, limit: int, what: str) -> InvalidValue:
    return InvalidValue(label, f"{label} has {size} characters; WhatsApp allows at most {limit} {what}")


def _check(source: _Source, value: str) -> str:
    """Strip ``value`` and check it against WhatsApp's rules for ``source``'s parameter.

    The same rules apply to literals (from :meth:`TemplateSpec.validate`) and column values
    (from :func:`render_content`); both raise a :class:`TemplateValueError`, a ``ValueError``.
    """
    text = value.strip()
    if not text:
        if source.column is not None:
            raise MissingValue(source.label, f"{source.label} is empty")
        raise InvalidValue(source.label, f"{source.label} is an empty literal")
    is_text = source.field.startswith("body[") or source.field == "header.text"
    if is_text and _BODY_FORBIDDEN.search(text):
        raise InvalidValue(
            source.label,
            f"{source.label} has a newline, a tab or more than 4 spaces in a row, which WhatsApp refuses",
        )
    if source.field == "header.text" and len(text) > MAX_HEADER_TEXT:
        raise _too_long(source.label, len(text), MAX_HEADER_TEXT, "in a text header")
    if source.field.startswith("body[") and len(text) > MAX_BODY_TEXT:
        raise _too_long(source.label, len(text), MAX_BODY_TEXT, "in the whole body")
    if source.field.startswith("button[") and source.field.endswith(".text") and len(text) > MAX_URL_BUTTON:
        raise _too_long(source.label, len(text), MAX_URL_BUTTON, "in a button's URL")
    if source.field == "header.link":
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise InvalidValue(source.label, f"{source.label} is not an http(s) URL")
    return text


def column_value(values: Mapping[str, Any], column: str) -> Any:
    """Return the row's value for ``column``, its name matched in any case and spacing.

    An exact match wins; else the first column whose stripped, case-folded name is the same.
    ``None`` when the row has no such column.

    :param values: one audience row (column name to value).
    :param column: the column name, as a template or ``required_columns`` gives it.
    """
    if column in values:
        return values[column]
    wanted = column.strip().casefold()
    for name, value in values.items():
        if isinstance(name, str) and name.strip().casefold() == wanted:
            return value
    return None


def _value(source: _Source, values: Mapping[str, Any]) -> str:
    if source.column is None:
        return (source.literal or "").strip()
    raw = column_value(values, source.column)
    if raw is None:
        raise MissingValue(source.label, f"{source.label} is missing: the row has no such column")
    return _check(source, str(raw))


def _check_body_total(sources: list[_Source], texts: list[str], limit: int = MAX_BODY_TEXT) -> None:
    """Refuse body parameters that together make more than the body can hold."""
    total = sum(len(text) for text in texts)
    if total > limit:
        columns = sorted({s.column for s in sources if s.column is not None})
        label = f"body (columns {', '.join(map(repr, columns))})" if columns else "body"
        raise InvalidValue(
            label,
            f"{label}: the parameters have {total} characters together; WhatsApp allows at most "
            f"{MAX_BODY_TEXT} in the whole body"
            + (f" and the approved text takes {MAX_BODY_TEXT - limit}" if limit < MAX_BODY_TEXT else ""),
        )


def _header_component(spec_header: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    kind = spec_header["type"]
    filled = {s.field.removeprefix("header."): _value(s, values) for s in _header_sources(spec_header)}
    if kind == "text":
        parameter: dict[str, Any] = {"type": "text", "text": filled["text"]}
    else:
        parameter = {"type": kind, kind: filled}
    return {"type": "header", "parameters": [parameter]}


def render_content(spec: TemplateSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill ``spec`` with one recipient's values and return the message content.

    Values are turned into strings and stripped of surrounding whitespace, nothing more:
    accents and emoji go as they are.

    :param spec: a spec that passed :meth:`TemplateSpec.validate`.
    :param values: the recipient's row (column name to value).
    :return: ``{"type": "template", "template": {...}}``, the ``content`` of an
        ``application/json`` message (docs/blip-api-facts.md §4).
    :raises MissingValue: when a column the spec reads is missing or empty.
    :raises InvalidValue: when a column's value breaks a WhatsApp rule: a newline, a tab or
        more than 4 spaces in a row in a body or header text; more than
        :data:`MAX_HEADER_TEXT` characters in a header text, :data:`MAX_BODY_TEXT` in the body
        parameters together or :data:`MAX_URL_BUTTON` in a URL button's suffix; a header link
        that is not http(s). The message names the parameter and column, never the value.
    """
    components: list[dict[str, Any]] = []
    if spec.header is not None:
        components.append(_header_component(spec.header, values))
    # Always a body component, even without parameters (docs/blip-api-facts.md §4).
    sources = _body(spec)
    texts = [_value(s, values) for s in sources]
    _check_body_total(sources, texts, spec.body_limit)
    body = [{"type": "text", "text": text} for text in texts]
    components.append({"type": "body", "parameters": body})
    for index, sub_type, source in _buttons(spec):
        key = _BUTTON_VALUE[sub_type]
        parameter = {"type": key, key: _value(source, values)}
        components.append({"type": "button", "sub_type": sub_type, "index": index, "parameters": [parameter]})
    template: dict[str, Any] = {}
    if spec.namespace is not None:
        template["namespace"] = spec.namespace
    template["name"] = spec.name
    template["language"] = {"code": spec.language, "policy": spec.policy}
    template["components"] = components
    return {"type": "template", "template": template}


def literal_content(
    *, template_name: str, language: str = "pt_BR", body: list[str | dict[str, str]] | None = None
) -> dict[str, Any]:
    """Validate and render a template whose values are all literals (no per-recipient column)."""
    spec = spec_from_args(template_name=template_name, language=language, body=body)
    spec.validate()
    return render_content(spec, {})


#: The arguments of an operator that sends a template, under the names ``spec_from_args`` takes.
TEMPLATE_ARGS = (
    "template_name",
    "language",
    "policy",
    "namespace",
    "header",
    "body",
    "body_columns",
    "buttons",
)


def spec_of(operator: object) -> TemplateSpec:
    """Build and validate the template from an operator's (rendered) :data:`TEMPLATE_ARGS`."""
    spec = spec_from_args(**{name: getattr(operator, name) for name in TEMPLATE_ARGS})
    spec.validate()
    return spec


def spec_from_args(
    *,
    template_name: str,
    language: str = "pt_BR",
    policy: str = "deterministic",
    namespace: str | None = None,
    header: Mapping[str, Any] | None = None,
    body: list[str | dict[str, str]] | None = None,
    body_columns: list[str] | None = None,
    buttons: list[dict[str, Any]] | None = None,
) -> TemplateSpec:
    """Build a :class:`TemplateSpec` from operator arguments (it is not validated here).

    :param template_name: the approved template's name.
    :param body_columns: shorthand for a body read entirely from columns:
        ``["name", "order"]`` is ``body=[{"column": "name"}, {"column": "order"}]``.
    :param namespace: an empty string (a template field that rendered empty) counts as none.
    :raises ValueError: when both ``body`` and ``body_columns`` are given, or
        ``body_columns`` is a single string.
    """
    if body is not None and body_columns is not None:
        raise BlipConfigError("give body or body_columns, not both")
    if isinstance(body_columns, str):
        raise BlipConfigError(f"body_columns must be a list of column names, not the string {body_columns!r}")
    if body_columns is not None:
        entries: list[str | dict[str, str]] = [{"column": c} for c in body_columns]
    else:
        entries = [dict(e) if isinstance(e, Mapping) else e for e in body or []]
    return TemplateSpec(
        name=template_name,
        language=language,
        policy=policy,
        namespace=namespace or None,
        header=dict(header) if header is not None else None,
        body=entries,
        buttons=[dict(b) if isinstance(b, Mapping) else b for b in buttons or []],
    )
