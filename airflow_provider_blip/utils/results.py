"""Per-recipient results, their summary and the batch failure policy (no I/O).

Every result is a plain JSON-serializable dict so that it can travel through XCom to the next
task (send after verify, a sensor after send) and into reports. Phone numbers in results are
unmasked, because the next step needs them; :func:`masked_table` is the way to show them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipBatchError, BlipConfigError
from airflow_provider_blip.utils.privacy import mask_identities, mask_phone
from airflow_provider_blip.utils.status import MessageStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class RecipientStatus(StrEnum):
    """What happened to one recipient: the job's own outcomes and Blip's delivery events.

    The one status vocabulary of result rows, run files, XCom and reports. The delivery
    members are :class:`~airflow_provider_blip.utils.status.MessageStatus`'s values (what
    Blip's notifications say), declared there once.
    """

    # The audience and the lookup.
    VERIFIED = "verified"
    INVALID_NUMBER = "invalid_number"
    DUPLICATE = "duplicate"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    LOOKUP_FAILED = "lookup_failed"
    INVALID_VALUES = "invalid_values"
    # The send, the flow and the list.
    SENT = "sent"
    SEND_FAILED = "send_failed"
    # A step whose outcome is not known (the hook's retries ran out on an ambiguous answer):
    # the next try asks Blip before doing it again. Not Blip's "nothing reported yet".
    SEND_UNKNOWN = "unknown"
    CONTEXT_SET = "context_set"
    CONTEXT_FAILED = "context_failed"
    ADDED = "added"
    REMOVED = "removed"
    LIST_FAILED = "list_failed"
    # Left out on purpose.
    SKIPPED = "skipped"
    RECENTLY_SENT = "recently_sent"  # skip_if_sent_within: sent this template lately
    NOT_SENT = "not_sent"  # the job's failure breaker tripped
    # Delivery, as the sensor reads it from Blip's notifications (docs/blip-api-facts.md §8).
    ACCEPTED = MessageStatus.ACCEPTED.value
    DISPATCHED = MessageStatus.DISPATCHED.value
    RECEIVED = MessageStatus.RECEIVED.value
    CONSUMED = MessageStatus.CONSUMED.value
    FAILED = MessageStatus.FAILED.value
    # A sent message Blip still reported nothing on after the wait's `unknown_after`: no
    # longer followed.
    DELIVERY_UNKNOWN = "delivery_unknown"
    #: Deprecated alias of :attr:`SEND_UNKNOWN`, kept for one release.
    UNKNOWN = "unknown"


#: Statuses that count against ``max_failed_ratio``. A duplicate is served by its first row and
#: a skipped recipient was left out on purpose, so neither is a failure.
FAILED_STATUSES: frozenset[RecipientStatus] = frozenset(
    {
        RecipientStatus.INVALID_NUMBER,
        RecipientStatus.NOT_ON_WHATSAPP,
        RecipientStatus.LOOKUP_FAILED,
        RecipientStatus.INVALID_VALUES,
        RecipientStatus.SEND_FAILED,
        RecipientStatus.CONTEXT_FAILED,
        RecipientStatus.LIST_FAILED,
        RecipientStatus.FAILED,
    }
)


#: Statuses of a recipient whose message Blip accepted (moved in the flow afterwards, or not):
#: their delivery is followed and they count as sent.
SENT_STATUSES: frozenset[RecipientStatus] = frozenset(
    {RecipientStatus.SENT, RecipientStatus.CONTEXT_SET, RecipientStatus.CONTEXT_FAILED}
)


def result(
    *,
    row: int,
    phone: str,
    status: RecipientStatus | str,
    reason: str | None = None,
    code: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build the result of one step for one recipient, leaving out ``None`` values.

    :param row: the recipient's 1-based row in the audience.
    :param phone: the number (E.164) or identity; unmasked, mask it to show it.
    :param status: a :class:`RecipientStatus` or its value; anything else is a ``ValueError``.
    :param reason: why the step failed or was skipped, in words.
    :param code: Blip's reason code, when Blip gave one.
    :param fields: anything else the next step needs, e.g. ``account``, ``message_id``, ``values``.
    """
    # Store the plain string: XCom and reports get "sent", not an enum they must import.
    entry: dict[str, Any] = {"row": row, "phone": phone, "status": RecipientStatus(status).value}
    extra: dict[str, Any] = {"reason": reason, "code": code, **fields}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def summarize(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Count results per status, keys sorted, e.g. ``{"duplicate": 1, "sent": 97}``."""
    counts = Counter(str(r["status"]) for r in results)
    return dict(sorted(counts.items()))


def check_failure_ratio(summary: Mapping[str, int], *, max_failed_ratio: float, step: str) -> None:
    """Raise :class:`~airflow_provider_blip.exceptions.BlipBatchError` when too many recipients failed.

    Failed recipients are those in :data:`FAILED_STATUSES`; the total leaves duplicates out
    (each one is served by an earlier row). An empty batch or one with no failures never raises.

    :param summary: counts per status, as from :func:`summarize`.
    :param max_failed_ratio: the largest tolerated share of failures, from 0 (none) to 1 (all).
    :param step: what the batch did, for the message (e.g. ``"send"``, ``"verify"``).
    """
    if (
        isinstance(max_failed_ratio, bool)
        or not isinstance(max_failed_ratio, int | float)
        or not 0 <= max_failed_ratio <= 1  # also refuses NaN
    ):
        raise BlipConfigError(f"max_failed_ratio must be a number from 0 to 1, got {max_failed_ratio!r}")
    failed = sum(n for status, n in summary.items() if status in FAILED_STATUSES)
    total = sum(n for status, n in summary.items() if status != RecipientStatus.DUPLICATE)
    if not total or not failed or failed / total <= max_failed_ratio:
        return
    counts = ", ".join(f"{status}={n}" for status, n in sorted(summary.items()))
    raise BlipBatchError(
        f"{step}: {failed} of {total} recipients failed ({failed / total:.1%}), more than "
        f"max_failed_ratio={max_failed_ratio:g} ({max_failed_ratio:.1%}); counts: {counts}",
        summary=dict(summary),
        failed=failed,
        total=total,
    )


# A number in E.164 or a WhatsApp identity: mask_phone keeps four digits on each side.
_WELL_FORMED = re.compile(r"\+?\d{11,15}(@\S*)?")
# Any digit followed by at least two more digits (whatever lies between them).
_ALL_BUT_LAST_TWO = re.compile(r"\d(?=(?:\D*\d){2})")
# A number written with punctuation inside a text: eight or more digits, one separator at most
# between two of them ("(31) 98888-7777", "+1 650 253 0000").
_PUNCTUATED_NUMBER = re.compile(r"\+?\(?\d(?:[ ().-]{0,2}\d){7,}")


def _hide_digits(text: str) -> str:
    return _ALL_BUT_LAST_TWO.sub("*", text)


def mask_phone_cell(value: str) -> str:
    """Mask a table's phone cell: a number as ``mask_phone`` does, anything else but its last two digits."""
    if _WELL_FORMED.fullmatch(value):
        return mask_phone(value)
    # A raw value that failed to parse may be short or punctuated ("8888-7777"), which
    # mask_phone would show whole: hide every digit but the last two.
    return _hide_digits(value)


def _mask_text(value: str) -> str:
    # mask_identities only sees unbroken runs of digits; a reason may quote a number with its
    # punctuation. Dates get masked too, the price of never showing a number.
    return _PUNCTUATED_NUMBER.sub(lambda m: _hide_digits(m.group(0)), mask_identities(value))


def _plain(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    # One line per recipient: a reason with a newline would break the table.
    return " ".join(str(value).split())


def mask_text_cell(value: object) -> str:
    """Mask a text cell of a table (a reason): on one line, every number in it masked."""
    return _mask_text(_plain(value))


def masked_table(results: Iterable[Mapping[str, Any]], *, limit: int | None = None) -> str:
    """Render results as a plain-text table (row, masked phone, status, reason) for logs.

    Every run of digits that could be a number is masked, in the reason too.

    :param results: result dicts as built by :func:`result`.
    :param limit: show at most this many rows, then ``... and N more``; ``None`` shows all.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise BlipConfigError(f"limit must be a non-negative int or None, got {limit!r}")
    header = ("row", "phone", "status", "reason")
    lines: list[tuple[str, str, str, str]] = []
    more = 0
    for entry in results:
        if limit is not None and len(lines) >= limit:
            more += 1  # count the rest without keeping it
            continue
        lines.append(
            (
                mask_text_cell(entry.get("row")),
                mask_phone_cell(_plain(entry.get("phone"))),
                mask_text_cell(entry.get("status")),
                mask_text_cell(entry.get("reason")),
            )
        )
    widths = [max([len(header[i]), *(len(line[i]) for line in lines)]) for i in range(4)]

    def fmt(cells: tuple[str, str, str, str]) -> str:
        return " | ".join(
            cell.rjust(widths[i]) if i == 0 else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    out = [fmt(header), "-+-".join("-" * w for w in widths)]
    out.extend(fmt(line) for line in lines)
    if not lines and not more:
        out.append("(no recipients)")
    if more:
        out.append(f"... and {more} more")
    return "\n".join(out)


# Rows the split judged (against max_invalid_ratio) or left out on purpose: not counted again.
_NOT_ACTED = frozenset(
    {
        RecipientStatus.INVALID_NUMBER,
        RecipientStatus.INVALID_VALUES,
        RecipientStatus.DUPLICATE,
        RecipientStatus.SKIPPED,
        RecipientStatus.NOT_SENT,
        RecipientStatus.RECENTLY_SENT,
    }
)


def check_job_outcome(counts: Mapping[str, int], *, max_failed_ratio: float) -> None:
    """Fail a finished job whose breaker stopped its sends, or whose recipients failed too often.

    Called by the report step after it printed what happened, so the report is never lost:
    the ratio is over the recipients the job acted on (the split already judged the
    unusable rows).

    :param counts: final counts per status over the whole job.
    :param max_failed_ratio: the share of failures tolerated.
    :raises BlipBatchError: naming the counts.
    """
    not_sent = counts.get(RecipientStatus.NOT_SENT, 0)
    acted = {status: n for status, n in counts.items() if status not in _NOT_ACTED}
    if not_sent:
        failed = sum(n for status, n in acted.items() if status in FAILED_STATUSES)
        raise BlipBatchError(
            f"job: the failure breaker stopped the sends after {failed} of {sum(acted.values())} "
            f"recipients failed; {not_sent} recipients were not sent (see the report above)",
            summary=dict(counts),
            failed=failed,
            total=sum(counts.values()),
        )
    check_failure_ratio(acted, max_failed_ratio=max_failed_ratio, step="job")
