"""Normalize phone numbers from audiences (spreadsheets, databases, XCom) to E.164 (no I/O).

Blip looks WhatsApp accounts up by the full international number with a leading ``+``
(docs/blip-api-facts.md §3), so every number is parsed with :mod:`phonenumbers`, checked and formatted as
E.164 before anything is sent. Brazilian specifics handled here:

- national formats with the area code (DDD): ``(31) 98888-7777``, ``31988887777``, and the
  trunk prefix with or without a carrier code (``031 ...``, ``0xx31 ...``);
- mobile numbers written before the ninth digit (2016): ``(31) 8888-7777`` becomes
  ``+5531988887777``;
- spreadsheet cells read as numbers (``5531988887777``, ``5531988887777.0``).
"""

from __future__ import annotations

import decimal
import functools
import math
import numbers
import re
from typing import TYPE_CHECKING

from airflow_provider_blip.exceptions import BlipConfigError, InvalidPhoneNumber

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

# phonenumbers is imported inside the functions that use it, never at module level: it costs
# ~23 ms, which every DAG file importing an operator would pay at parse time for nothing.

# What spreadsheet exports and dataframes write in an empty cell.
_EMPTY_MARKERS = frozenset({"", "nan", "none", "null", "nat", "<na>"})
# A number that went through a float column on its way to the CSV: `5531988887777.0`.
_FLOAT_TEXT = re.compile(r"^\s*(\+?\d+)\.0*\s*$")
# Digits behind an international call prefix written as `00`, with any punctuation.
_DOUBLE_ZERO = re.compile(r"^\s*0\s*0[\s.\-()]*(\d[\d\s.\-()]*)$")

_BRAZIL = 55


@functools.cache
def _parse_reasons() -> dict[int, str]:
    """Map phonenumbers' parse errors to reasons; built on first use (see the import note)."""
    from phonenumbers import NumberParseException

    return {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        NumberParseException.NOT_A_NUMBER: "not a phone number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }


@functools.cache
def _possible_reasons() -> dict[int, str]:
    """Map phonenumbers' possibility checks to reasons; built on first use (see the import note)."""
    from phonenumbers import ValidationResult

    return {
        ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
        ValidationResult.TOO_SHORT: "too short",
        ValidationResult.TOO_LONG: "too long",
        ValidationResult.INVALID_LENGTH: "wrong number of digits",
    }


def check_region(default_region: str) -> str:
    """Return ``default_region`` upper-cased, or raise if :mod:`phonenumbers` does not know it.

    :param default_region: an ISO 3166 two-letter region code such as ``"BR"`` or ``"US"``.
    """
    import phonenumbers

    region = default_region.strip().upper() if isinstance(default_region, str) else ""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise BlipConfigError(
            f"default_region {default_region!r} is not a region code phonenumbers knows "
            "(use a two-letter ISO 3166 code such as 'BR' or 'US')"
        )
    return region


def _as_text(raw: object) -> str:
    """Turn a cell into text, undoing what spreadsheets do to numbers; raise for empty cells."""
    if raw is None or isinstance(raw, bool):
        # A bool is an int to Python but never a phone number in an audience.
        raise InvalidPhoneNumber("empty" if raw is None else "not a phone number")
    if isinstance(raw, numbers.Integral):
        return str(int(raw))
    if isinstance(raw, numbers.Real | decimal.Decimal):
        value = float(raw)
        if math.isnan(value):
            raise InvalidPhoneNumber("empty")
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidPhoneNumber("not a phone number")
        return str(int(value))
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("not a phone number")
    text = raw.strip()
    if text.lower() in _EMPTY_MARKERS:
        raise InvalidPhoneNumber("empty")
    float_text = _FLOAT_TEXT.match(text)
    return float_text.group(1) if float_text else text


def _parse(text: str, region: str) -> PhoneNumber:
    import phonenumbers

    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(_parse_reasons().get(exc.error_type, "not a phone number")) from None


def _from_double_zero(text: str, region: str) -> PhoneNumber | None:
    """Read ``0055 31 ...`` as ``+55 31 ...`` when that gives a valid number.

    ``00`` is the international prefix of most of the world, but regions whose prefix is not
    a bare ``00`` (Brazil dials out with a carrier code, ``0021``) parse it as a national number.
    """
    import phonenumbers

    match = _DOUBLE_ZERO.match(text)
    if not match:
        return None
    try:
        number = _parse("+" + match.group(1), region)
    except InvalidPhoneNumber:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _with_ninth_digit(number: PhoneNumber) -> PhoneNumber | None:
    """Return the Brazilian mobile number with its ninth digit added, if that makes it valid.

    Since 2016 every Brazilian mobile number has nine digits after the area code, starting
    with 9; eight-digit subscriber numbers starting with 6-9 can only be mobiles written the
    old way (landlines start with 2-5), so adding the 9 is safe and gives the current number.
    """
    import phonenumbers

    national = str(number.national_number)
    if number.country_code != _BRAZIL or len(national) != 10 or national[2] not in "6789":
        return None
    with_ninth = int(national[:2] + "9" + national[2:])
    fixed = phonenumbers.PhoneNumber(country_code=_BRAZIL, national_number=with_ninth)
    if phonenumbers.number_type(fixed) != phonenumbers.PhoneNumberType.MOBILE:
        return None
    return fixed if phonenumbers.is_valid_number(fixed) else None


def _invalid_reason(number: PhoneNumber) -> str:
    import phonenumbers

    reason = _possible_reasons().get(phonenumbers.is_possible_number_with_reason(number))
    if reason is not None:
        return reason
    if number.country_code == _BRAZIL and len(str(number.national_number)) in (8, 9):
        return "missing area code (DDD)"
    country_code = number.country_code or 0
    region = phonenumbers.region_code_for_country_code(country_code)
    if region == phonenumbers.UNKNOWN_REGION:
        return f"not a valid number for country code +{country_code}"
    return f"not a valid number for region {region}"


def parse_phone(raw: object, default_region: str = "BR") -> str:
    """Parse a phone number written in any usual way and return it in E.164 (``+5531988887777``).

    :param raw: a string (E.164, national, with spaces, dashes, dots or parentheses), an int or
        a float from a spreadsheet cell; ``None``, NaN and blank strings count as empty.
    :param default_region: the region of numbers written without a country code.
    :raises InvalidPhoneNumber: for anything that is not a valid number (and nothing else for
        bad input).
    :raises ValueError: (:class:`~airflow_provider_blip.exceptions.BlipConfigError`) when
        ``default_region`` is not a known region code.
    """
    import phonenumbers

    region = check_region(default_region)
    text = _as_text(raw)
    try:
        number = _parse(text, region)
    except InvalidPhoneNumber:
        alternative = _from_double_zero(text, region)
        if alternative is None:
            raise
        number = alternative
    if not phonenumbers.is_valid_number(number):
        fixed = _from_double_zero(text, region)
        if fixed is None:
            fixed = _with_ninth_digit(number)
        if fixed is None:
            raise InvalidPhoneNumber(_invalid_reason(number))
        number = fixed
    if number.extension:
        # E.164 has no room for an extension, and an extension cannot hold a WhatsApp account.
        raise InvalidPhoneNumber("has an extension")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def dedupe_key(e164: str) -> int:
    """Return the digits of an E.164 number as an int: a compact key for a large seen-set.

    E.164 numbers never start with 0 after the ``+``, so two numbers share a key only when they
    are the same number.

    :param e164: a number as returned by :func:`parse_phone`.
    """
    digits = e164[1:] if e164.startswith("+") else ""
    if not digits.isdigit() or not digits.isascii():
        raise BlipConfigError("dedupe_key needs a number in E.164 form (as returned by parse_phone)")
    return int(digits)
