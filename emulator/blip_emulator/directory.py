"""WhatsApp directory: account lookup and the rule deciding which identities can receive messages.

Lookup follows docs/blip-api-facts.md §3. Two emulator rules are *modelled*, not documented by Blip:

* **Ninth digit.** A Brazilian mobile ``+55 DD 9XXXXXXXX`` whose area code ``DD`` is at or above
  ``ninth_digit_ddd_min`` has a legacy WhatsApp account without the 9 (``55DDXXXXXXXX``). The
  lookup returns it as ``alternativeAccount``; sending to the 9-digit form fails with code 42.
* **No ``+``.** Per DOCS a lookup without the leading ``+`` "succeeds" whatever the number; the
  emulator answers with an identity made of the raw digits, which may not be the real account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blip_emulator.lime import (
    ACCOUNT_TYPE,
    DESTINATION_NOT_FOUND,
    INVALID_ARGUMENT,
    METHOD_NOT_SUPPORTED,
    RESOURCE_NOT_FOUND,
    WHATSAPP_DOMAIN,
    CommandFailure,
)

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from blip_emulator.config import EmulatorConfig

Reason = tuple[int, str]


def digits_of(number: str) -> str:
    """Return only the digits of a phone number or identity name."""
    return "".join(ch for ch in number if ch.isdigit())


def whatsapp_account(digits: str, ddd_min: int | None) -> str:
    """Return the WhatsApp account digits of a phone number, applying the ninth-digit rule.

    :param digits: Full international number, digits only (``5531988887777``).
    :param ddd_min: Lowest Brazilian area code with legacy accounts; ``None`` disables the rule.
    """
    if ddd_min is None or len(digits) != 13 or not digits.startswith("55") or digits[4] != "9":
        return digits
    if int(digits[2:4]) < ddd_min:
        return digits
    return digits[:4] + digits[5:]


def lookup(number: str, config: EmulatorConfig) -> dict[str, Any]:
    """Answer ``get lime://wa.gw.msging.net/accounts/<number>`` with an account resource.

    :param number: The decoded last URI segment (``+5531988887777``).
    :param config: Current settings (ninth-digit rule, unregistered numbers).
    :raises CommandFailure: 67 for ``unregistered_numbers``, 64 for a ``+`` without digits.
    """
    if not number.startswith("+"):
        # DOCS: without '+' every lookup "succeeds"; the identity is just the raw text.
        raw = digits_of(number) or number.strip()
        return _account(raw, f"Emulated user {raw[-4:]}", phone=raw)
    digits = digits_of(number)
    if not digits or digits != number[1:]:
        raise CommandFailure(INVALID_ARGUMENT, f"Invalid phone number {number!r}")
    if digits in _numbers(config.unregistered_numbers):
        raise CommandFailure(RESOURCE_NOT_FOUND, "Destination not found")
    account = whatsapp_account(digits, config.ninth_digit_ddd_min)
    return _account(account, f"Emulated user {digits[-4:]}", phone=f"+{digits}")


def delivery_failure(name: str, config: EmulatorConfig) -> Reason | None:
    """Return the reason a message to ``<name>@wa.gw.msging.net`` fails, or ``None`` if it is delivered.

    :param name: Name part of the destination identity (the account digits).
    :param config: Current settings.
    """
    if not name.isdigit() or whatsapp_account(name, config.ninth_digit_ddd_min) != name:
        return DESTINATION_NOT_FOUND, "Destination not found"
    ddd_min = config.ninth_digit_ddd_min
    unregistered = _numbers(config.unregistered_numbers)
    if name in unregistered or name in {whatsapp_account(d, ddd_min) for d in unregistered}:
        return DESTINATION_NOT_FOUND, "Destination not found"
    for number, reason in config.failing_numbers.items():
        digits = digits_of(number)
        if name in (digits, whatsapp_account(digits, ddd_min)):
            return reason
    return None


def check_lookup_method(method: str) -> None:
    """Refuse anything but ``get`` on the directory (code 63)."""
    if method != "get":
        raise CommandFailure(METHOD_NOT_SUPPORTED, f"Method {method!r} is not supported on /accounts")


def _account(name: str, full_name: str, *, phone: str) -> dict[str, Any]:
    identity = f"{name}@{WHATSAPP_DOMAIN}"
    return {
        "type": ACCOUNT_TYPE,
        "resource": {
            "fullName": full_name,
            "alternativeAccount": identity,
            "identity": identity,
            "phoneNumber": phone,
            "source": "WhatsApp",
        },
    }


def _numbers(numbers: AbstractSet[str]) -> set[str]:
    return {digits_of(number) for number in numbers}
