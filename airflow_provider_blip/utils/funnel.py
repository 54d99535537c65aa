"""A job's delivery funnel, from the result rows its tasks already wrote (no I/O).

The funnel counts recipients, not messages: **sent** (Blip took the message) ⊇ **accepted**
⊇ **received** ⊇ **read**; beside it **failed** (Blip reported the delivery failed), **no
report** (sent, but Blip said nothing before the wait gave up), **not sent** (the split or
the notify task left the row out: invalid, duplicate, not on WhatsApp, breaker...) and
**queued** (a chunk row no task has finished yet). Those five add up to the recipients.

Phone numbers leave this module masked only: :class:`FailedRecipient` holds the masked
form, never the number.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils.privacy import mask_identities, mask_phone
from airflow_provider_blip.utils.results import RecipientStatus as S

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class Stage(StrEnum):
    """Where one recipient stands: the furthest step the run files show."""

    PENDING = "pending"  # sent, no delivery status yet
    ACCEPTED = "accepted"
    RECEIVED = "received"
    READ = "read"
    FAILED = "failed"
    NO_REPORT = "no_report"
    NOT_SENT = "not_sent"
    QUEUED = "queued"


_STAGES: dict[str, Stage] = {
    S.SENT: Stage.PENDING,
    S.CONTEXT_SET: Stage.PENDING,
    S.CONTEXT_FAILED: Stage.PENDING,
    S.ADDED: Stage.PENDING,
    S.REMOVED: Stage.PENDING,
    S.LIST_FAILED: Stage.PENDING,
    # A send whose outcome is unknown may have reached Blip: counted as sent, not as failed.
    S.UNKNOWN: Stage.PENDING,
    S.ACCEPTED: Stage.ACCEPTED,
    S.DISPATCHED: Stage.ACCEPTED,
    S.RECEIVED: Stage.RECEIVED,
    S.CONSUMED: Stage.READ,
    S.FAILED: Stage.FAILED,
    S.DELIVERY_UNKNOWN: Stage.NO_REPORT,
}


def stage_of(row: Mapping[str, Any]) -> Stage:
    """Return a result row's stage: its ``delivery`` (a read before the wait) wins over ``status``.

    A row with a ``message_id`` but a step status that is no send outcome (a flow or list
    step's word) was still sent; a row without one was never sent.
    """
    delivery = row.get("delivery")
    if delivery in _STAGES:
        return _STAGES[str(delivery)]
    status = str(row.get("status", ""))
    if status in _STAGES:
        return _STAGES[status]
    return Stage.PENDING if row.get("message_id") else Stage.NOT_SENT


@dataclasses.dataclass(frozen=True)
class Funnel:
    """Recipients per stage; ``sent`` and the cumulative stages are properties."""

    pending: int = 0
    accepted_only: int = 0
    received_only: int = 0
    read: int = 0
    failed: int = 0
    no_report: int = 0
    not_sent: int = 0
    queued: int = 0

    @classmethod
    def of(cls, stages: Iterable[Stage]) -> Funnel:
        counts = Counter(stages)
        return cls(
            pending=counts[Stage.PENDING],
            accepted_only=counts[Stage.ACCEPTED],
            received_only=counts[Stage.RECEIVED],
            read=counts[Stage.READ],
            failed=counts[Stage.FAILED],
            no_report=counts[Stage.NO_REPORT],
            not_sent=counts[Stage.NOT_SENT],
            queued=counts[Stage.QUEUED],
        )

    @property
    def received(self) -> int:
        """Received or read."""
        return self.received_only + self.read

    @property
    def accepted(self) -> int:
        """Accepted by the network or further (received, read)."""
        return self.accepted_only + self.received

    @property
    def sent(self) -> int:
        """Every recipient Blip took a message for, whatever happened next."""
        return self.pending + self.accepted + self.failed + self.no_report

    @property
    def total(self) -> int:
        return self.sent + self.not_sent + self.queued

    def __add__(self, other: Funnel) -> Funnel:
        fields = (f.name for f in dataclasses.fields(self))
        return Funnel(**{name: getattr(self, name) + getattr(other, name) for name in fields})

    def as_dict(self) -> dict[str, int]:
        """Return the counts the page and the HTML file show (JSON-ready)."""
        names = ("sent", "accepted", "received", "read", "failed", "no_report", "not_sent", "queued")
        return {name: getattr(self, name) for name in names} | {"total": self.total}


@dataclasses.dataclass(frozen=True)
class FailedRecipient:
    """One recipient who did not get the message, number and reason masked."""

    chunk: int
    row: int
    phone: str
    status: str
    reason: str


# A number written with punctuation inside a reason ("(31) 98888-7777"): mask_identities only
# sees unbroken runs of eight digits.
_PUNCTUATED_NUMBER = re.compile(r"\+?\(?\d(?:[ ().-]{0,2}\d){7,}")


def mask_reason(text: object) -> str:
    """Mask every number-like part of a reason, on one line (it may quote a number)."""
    plain = " ".join(str(text or "").split())
    hidden = mask_identities(plain)
    return _PUNCTUATED_NUMBER.sub(lambda m: re.sub(r"\d(?=(?:\D*\d){2})", "*", m.group(0)), hidden)


# The table's order: real failures first, then rows never sent, duplicates last.
_ORDER = {Stage.FAILED: 0, Stage.NO_REPORT: 1, Stage.NOT_SENT: 2}


def failed_recipient(chunk: int, row: Mapping[str, Any]) -> FailedRecipient:
    status = str(row.get("delivery") or row.get("status") or "")
    reason = row.get("reason") or (row.get("delivery_reason") or {}).get("description", "")
    return FailedRecipient(
        chunk, int(row["row"]), mask_phone(row.get("phone", "")), status, mask_reason(reason)
    )


def rank(stage: Stage, status: str) -> tuple[int, int]:
    """Rank a recipient who did not get the message: real failures first, duplicates last."""
    return (_ORDER.get(stage, 3), int(status == S.DUPLICATE))


def table_key(stage: Stage, entry: FailedRecipient) -> tuple[int, int, int, int]:
    """Sort key of the failed-recipients table: :func:`rank`, then chunk and row."""
    return (*rank(stage, entry.status), entry.chunk, entry.row)
