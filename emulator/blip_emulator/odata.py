"""A tiny OData ``$filter`` parser for ``get /contacts`` (docs/blip-api-facts.md §6 "Filter syntax").

Supported: ``substringof('x', field)``, ``startswith(field, 'x')``, ``endswith(field, 'x')``,
``field eq|ne|gt|ge|lt|le <literal>``, ``datetimeoffset'ISO'`` literals, ``and``, ``or``, ``not``
and parentheses. Field names are matched case-insensitively (``lastmessagedate`` reads
``lastMessageDate``); ``extras/key`` reads a nested value. String comparisons ignore case, the
emulator's choice (Blip's collation is not documented).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]
Operand = Callable[[Mapping[str, Any]], Any]

_TOKEN = re.compile(
    r"\s*(?:(?P<date>datetime(?:offset)?'[^']*')|(?P<str>'(?:[^']|'')*')"
    r"|(?P<num>-?\d+(?:\.\d+)?)(?![\w])|(?P<name>[A-Za-z_$][\w/.$-]*)|(?P<punct>[(),]))"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"substringof", "startswith", "endswith"}
_KEYWORDS = {"and", "or", "not", "true", "false", "null", *_COMPARISONS}


class ODataError(ValueError):
    """A ``$filter`` the emulator cannot parse."""


def compile_filter(text: str) -> Predicate:
    """Compile a ``$filter`` expression (already percent-decoded) into a predicate over contact dicts.

    :param text: e.g. ``(substringof('WhatsApp',source)) and (name ne 'Bot')``.
    :raises ODataError: If the expression is malformed or uses something unsupported.
    """
    parser = _Parser(_tokenize(text))
    predicate = parser.parse_or()
    leftover = parser.peek()
    if leftover is not None:
        raise ODataError(f"unexpected {leftover[1]!r} in $filter")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ODataError(f"cannot parse $filter near {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive-descent parser producing closures."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ODataError("unexpected end of $filter")
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got != value:
            raise ODataError(f"expected {value!r} in $filter, got {got!r}")

    def at_word(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() in words:
            return token[1].lower()
        return None

    def parse_or(self) -> Predicate:
        left = self.parse_and()
        while self.at_word("or"):
            self.take()
            left = _either(left, self.parse_and())
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_not()
        while self.at_word("and"):
            self.take()
            left = _both(left, self.parse_not())
        return left

    def parse_not(self) -> Predicate:
        if self.at_word("not"):
            self.take()
            inner = self.parse_not()
            return lambda row: not inner(row)
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        left = self.parse_term()
        operator = self.at_word(*_COMPARISONS)
        if operator is None:
            return lambda row: bool(left(row))
        self.take()
        right = self.parse_term()
        return lambda row: _compare(operator, left(row), right(row))

    def parse_term(self) -> Operand:
        kind, value = self.take()
        if value == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        if kind in ("str", "date", "num"):
            literal = _literal(kind, value)
            return lambda row: literal
        if kind != "name" or value.lower() in _KEYWORDS - {"true", "false", "null"}:
            raise ODataError(f"unexpected {value!r} in $filter")
        lowered = value.lower()
        if lowered in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[lowered]
            return lambda row: constant
        if lowered in _FUNCTIONS:
            return self.parse_function(lowered)
        return lambda row: _field(row, value)

    def parse_function(self, name: str) -> Operand:
        self.expect("(")
        first = self.parse_term()
        self.expect(",")
        second = self.parse_term()
        self.expect(")")
        if name == "substringof":
            return lambda row: _text(first(row)) in _text(second(row))
        check = str.startswith if name == "startswith" else str.endswith
        return lambda row: check(_text(first(row)), _text(second(row)))


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda row: first(row) or second(row)


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda row: first(row) and second(row)


def _literal(kind: str, value: str) -> Any:
    if kind == "num":
        return float(value)
    if kind == "str":
        return value[1:-1].replace("''", "'")
    raw = value[value.index("'") + 1 : -1]
    return _parse_date(raw, strict=True)


def _field(row: Mapping[str, Any], path: str) -> Any:
    current: Any = row
    for part in path.split("/"):
        if not isinstance(current, Mapping):
            return None
        lowered = part.lower()
        current = next((v for k, v in current.items() if k.lower() == lowered), None)
    return current


def _text(value: Any) -> str:
    # A missing field reads as "" so functions on it are simply false.
    return "" if value is None else str(value).casefold()


def _parse_date(raw: str, *, strict: bool = False) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        if strict:
            raise ODataError(f"invalid datetimeoffset {raw!r}") from None
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _compare(operator: str, left: Any, right: Any) -> bool:
    if isinstance(left, datetime.datetime) or isinstance(right, datetime.datetime):
        left, right = _as_date(left), _as_date(right)
    elif isinstance(left, float) or isinstance(right, float):
        left, right = _as_number(left), _as_number(right)
    elif isinstance(left, str) or isinstance(right, str):
        left = left.casefold() if isinstance(left, str) else left
        right = right.casefold() if isinstance(right, str) else right
    if operator in ("eq", "ne"):
        return (left == right) == (operator == "eq")
    if left is None or right is None:
        return False
    try:
        return bool(
            {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[operator]
        )
    except TypeError:
        return False


def _as_date(value: Any) -> Any:
    return _parse_date(value) if isinstance(value, str) else value


def _as_number(value: Any) -> Any:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
