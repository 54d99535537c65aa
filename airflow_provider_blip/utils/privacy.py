"""Masking of personal data (LGPD): phone numbers and WhatsApp identities in logs and errors.

Pure functions, no I/O. A phone number keeps its first four and last four digits
(``+5531*****9999``): enough to tell recipients apart in a report, not enough to call them.
"""

from __future__ import annotations

import re

# Eight or more digits in a row is a phone number or a WhatsApp id (waid); shorter runs are
# ids, counts, ports and dates, which stay readable.
_DIGIT_RUN = re.compile(r"\d{8,}")


def _mask_digits(digits: str) -> str:
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def mask_phone(value: object) -> str:
    """Mask a phone number as written by anyone, keeping the first and last four digits.

    Unlike :func:`mask_identities` it counts digits across separators, so a raw
    ``(31) 98888-7777`` is masked as well as ``+5531988889999`` or a WhatsApp identity.
    Values with fewer than eight digits keep only their last two.

    :param value: ``+5531988889999``, ``5531988889999@wa.gw.msging.net``, ``(31) 98888-7777``...
    """
    text = "" if value is None else str(value)
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    kept = positions[:4] + positions[-4:] if len(positions) >= 8 else positions[-2:]
    hidden = set(positions) - set(kept)
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def mask_identities(text: str) -> str:
    """Mask every phone-number-like run of digits in ``text`` (URIs, messages, bodies)."""
    return _DIGIT_RUN.sub(lambda m: _mask_digits(m.group(0)), text)
