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


def mask_phone(value: str) -> str:
    """Mask a phone number, waid or WhatsApp identity, keeping the first and last four digits.

    :param value: ``+5531988889999``, ``5531988889999@wa.gw.msging.net`` or any text.
    :return: the same text with every run of eight or more digits masked.
    """
    return mask_identities(value)


def mask_identities(text: str) -> str:
    """Mask every phone-number-like run of digits in ``text`` (URIs, messages, bodies)."""
    return _DIGIT_RUN.sub(lambda m: _mask_digits(m.group(0)), text)
