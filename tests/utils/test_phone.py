from __future__ import annotations

import decimal

import pytest

from airflow_provider_blip.exceptions import BlipConfigError, InvalidPhoneNumber
from airflow_provider_blip.utils.phone import dedupe_key, parse_phone

MOBILE = "+5531988887777"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+5531988887777", MOBILE, id="e164"),
        pytest.param("+55 31 98888-7777", MOBILE, id="e164-punctuated"),
        pytest.param("+55 (31) 98888-7777", MOBILE, id="e164-parentheses"),
        pytest.param("(31) 98888-7777", MOBILE, id="national-mobile"),
        pytest.param("31988887777", MOBILE, id="national-digits"),
        pytest.param("031 98888 7777", MOBILE, id="trunk-prefix"),
        pytest.param("0xx31 98888 7777", MOBILE, id="trunk-carrier-placeholder"),
        pytest.param("031 31 98888 7777", MOBILE, id="trunk-carrier-code"),
        pytest.param("31.98888.7777", MOBILE, id="dots"),
        pytest.param("  +55 31 98888 7777\t", MOBILE, id="surrounding-whitespace"),
        pytest.param("5531988887777", MOBILE, id="country-code-without-plus"),
        pytest.param("55 31 98888 7777", MOBILE, id="country-code-spaced"),
        pytest.param("0055 31 98888 7777", MOBILE, id="idd-00"),
        pytest.param("00 55 31 98888-7777", MOBILE, id="idd-00-spaced"),
        pytest.param("0021 55 31 98888 7777", MOBILE, id="idd-with-carrier"),
        pytest.param("(31) 8888-7777", MOBILE, id="mobile-without-ninth-digit"),
        pytest.param("+55 31 8888-7777", MOBILE, id="e164-without-ninth-digit"),
        pytest.param("(31) 3333-4444", "+553133334444", id="landline"),
        pytest.param("(11) 2345-6789", "+551123456789", id="landline-sao-paulo"),
        pytest.param("+5511999999999", "+5511999999999", id="mobile-sao-paulo"),
        pytest.param("+1 650 253 0000", "+16502530000", id="other-country-e164"),
        pytest.param("+44 20 7946 0958", "+442079460958", id="uk-e164"),
        pytest.param(5531988887777, MOBILE, id="int"),
        pytest.param(5531988887777.0, MOBILE, id="float"),
        pytest.param("5531988887777.0", MOBILE, id="float-text"),
        pytest.param(decimal.Decimal("5531988887777"), MOBILE, id="decimal"),
        pytest.param("+５５ ３１ ９８８８８-７７７７", MOBILE, id="fullwidth-digits"),
    ],
)
def test_parses_to_e164(raw, expected):
    assert parse_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="blank"),
        pytest.param(None, "empty", id="none"),
        pytest.param(float("nan"), "empty", id="nan"),
        pytest.param("nan", "empty", id="nan-text"),
        pytest.param("NULL", "empty", id="null-text"),
        pytest.param("abc", "not a phone number", id="letters"),
        pytest.param("12", "too short", id="too-short"),
        pytest.param("1234567890123456789012", "too long", id="too-long"),
        pytest.param("+999 1234 5678", "unknown country code", id="unknown-country"),
        pytest.param("8888-7777", "missing area code (DDD)", id="no-area-code"),
        pytest.param("(650) 253-0000", "not a valid number for region BR", id="us-number-as-br"),
        pytest.param("(20) 98888-7777", "not a valid number for region BR", id="bad-area-code"),
        pytest.param("+1 999 999 9999", "not a valid number for region US", id="invalid-us"),
        pytest.param("+55 31 98888-7777 ext. 2", "has an extension", id="extension"),
        pytest.param(True, "not a phone number", id="bool"),
        pytest.param(3.5, "not a phone number", id="fractional-float"),
        pytest.param(float("inf"), "not a phone number", id="infinity"),
        pytest.param([5531988887777], "not a phone number", id="list"),
        pytest.param({"phone": MOBILE}, "not a phone number", id="dict"),
        pytest.param(b"+5531988887777", "not a phone number", id="bytes"),
    ],
)
def test_rejects_with_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        parse_phone(raw)
    assert info.value.reason == reason
    assert str(info.value) == reason
    assert isinstance(info.value, ValueError)


def test_reason_never_repeats_the_number():
    with pytest.raises(InvalidPhoneNumber) as info:
        parse_phone("(650) 253-0000")
    assert "253" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("(650) 253-0000", "+16502530000", id="national"),
        pytest.param("650.253.0000", "+16502530000", id="dots"),
        pytest.param("+55 31 98888-7777", MOBILE, id="e164-still-wins"),
        pytest.param(6502530000, "+16502530000", id="int"),
    ],
)
def test_other_default_region(raw, expected):
    assert parse_phone(raw, default_region="US") == expected


def test_default_region_is_case_insensitive():
    assert parse_phone("(31) 98888-7777", "br") == MOBILE


@pytest.mark.parametrize("region", ["XX", "", "Brazil", None, 55])
def test_bad_default_region_names_the_setting(region):
    with pytest.raises(BlipConfigError, match="default_region") as info:
        parse_phone(MOBILE, default_region=region)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, InvalidPhoneNumber)


def test_never_raises_anything_but_invalid_phone_number():
    import random
    import string

    rng = random.Random(7)
    alphabet = string.printable + "+()０１٣ªº"
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        try:
            parse_phone(raw)
        except InvalidPhoneNumber:
            pass


def test_dedupe_key_is_the_digits():
    assert dedupe_key(MOBILE) == 5531988887777
    assert dedupe_key(parse_phone("(31) 98888-7777")) == dedupe_key(parse_phone("+55 31 98888-7777"))
    assert dedupe_key("+16502530000") != dedupe_key("+553188887777")


@pytest.mark.parametrize("bad", ["5531988887777", "+55 31", "+", "", "+５５31"])
def test_dedupe_key_refuses_non_e164(bad):
    with pytest.raises(ValueError, match="E.164"):
        dedupe_key(bad)
