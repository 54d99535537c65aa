"""Trigger that waits in the triggerer for Blip messages to settle. It only reads.

The module also holds what the sensor and its trigger share, so that both wait the same way:
which result rows are followed (:func:`awaits_delivery`), when a message is done
(:func:`settled`), what a wait knows (:class:`DeliveryWait`), the back-off between rounds
(:func:`next_interval`) and how an error crosses the deferral (:func:`error_event`,
:func:`reported_error`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_blip import exceptions
from airflow_provider_blip.exceptions import BlipConfigError, BlipError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils.privacy import mask_identities
from airflow_provider_blip.utils.results import SENT_STATUSES, RecipientStatus
from airflow_provider_blip.utils.status import MessageStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

#: Seconds before the first read of a round, doubled after each round.
DEFAULT_POLL_INTERVAL = 5.0
#: The longest wait between two rounds, in seconds.
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: Seconds after its first read that a message Blip still reports nothing on is settled.
DEFAULT_UNKNOWN_AFTER = 15 * 60.0

#: A message's status as a wait keeps it: the status value and, for ``failed``, Blip's reason
#: (``{"code": int | None, "description": str}``). JSON-friendly, as trigger events must be.
Status = tuple[str, dict[str, Any] | None]

DELIVERY_UNKNOWN = RecipientStatus.DELIVERY_UNKNOWN.value

# What a row's `delivery` may say: what the notify task read, or what a deferring sensor
# settled before it handed the wait over (delivery_unknown).
_ROW_DELIVERY = {s.value for s in MessageStatus} | {DELIVERY_UNKNOWN}

_SILENT_REASON = {
    "code": None,
    "description": "Blip reported nothing on this message by the wait's unknown_after deadline",
}

# Seams for tests: a fake clock and sleep run the schedule without waiting. The clock is wall
# time because the deadline crosses processes (worker, triggerer, a restarted triggerer).
clock = time.time
sleep = asyncio.sleep


def awaits_delivery(row: Mapping[str, Any]) -> bool:
    """Tell whether a result row is a message Blip accepted, whose delivery is to be followed."""
    return bool(row.get("message_id")) and row.get("status") in SENT_STATUSES


def settled(status: str, target: MessageStatus) -> bool:
    """Tell whether a message is done: it failed, reached ``target``, or was given up as unknown."""
    if status == DELIVERY_UNKNOWN:
        return True
    value = MessageStatus(status)
    return value == MessageStatus.FAILED or value.reached(target)


def next_interval(interval: float, max_interval: float) -> float:
    """Return the wait after a round that waited ``interval``: doubled, at most ``max_interval``.

    Every round doubles, even one that found messages delivered: a chunk whose deliveries
    trickle in would otherwise be read at the fastest pace for as long as it waits.
    """
    return max(interval, min(interval * 2, max_interval))


def row_delivery(row: Mapping[str, Any], source: str) -> Status | None:
    """Return the status a result row already carries (``delivery``, ``delivery_reason``), if any.

    :param source: where the row comes from, for the error (a file URI or ``messages``).
    :raises BlipConfigError: ``delivery`` is not a delivery status.
    """
    value = row.get("delivery")
    if value is None:
        return None
    if not isinstance(value, str) or value not in _ROW_DELIVERY:
        raise BlipConfigError(
            f"{source}, row {row.get('row')}: field 'delivery' is not a delivery status "
            f"(one of {', '.join(sorted(_ROW_DELIVERY))})"
        )
    if value != MessageStatus.FAILED:
        return str(value), None
    reason = row.get("delivery_reason")
    if not isinstance(reason, dict):
        reason = {"code": None, "description": "no reason given"}
    return str(value), {"code": reason.get("code"), "description": str(reason.get("description", ""))}


@dataclasses.dataclass
class DeliveryWait:
    """What one wait knows of the messages it follows, and which it reads next (no I/O).

    :param target: the status that counts as done (``failed`` always does).
    :param unknown_deadline: epoch seconds from which a message Blip still reports nothing on
        (``unknown``) is settled ``delivery_unknown`` instead of read again.
    """

    target: MessageStatus
    unknown_deadline: float
    statuses: dict[str, Status] = dataclasses.field(default_factory=dict)
    # A dict, not a list: it keeps the order and follows an id given twice once.
    followed: dict[str, None] = dataclasses.field(default_factory=dict)

    def follow(self, message_id: str, known: Status | None = None) -> None:
        """Follow a message; ``known`` is its status if already settled (it is then never read)."""
        self.followed[message_id] = None
        if known is not None and settled(known[0], self.target):
            self.statuses[message_id] = known

    def follow_rows(self, rows: Iterable[Mapping[str, Any]], source: str) -> None:
        """Follow the sent messages of result rows, each row's ``delivery`` taken as known."""
        for row in rows:
            if awaits_delivery(row):
                self.follow(str(row["message_id"]), row_delivery(row, source))

    def pending(self) -> list[str]:
        """Return the messages to read this round: followed and not settled."""
        return [m for m in self.followed if not self.is_settled(m)]

    def is_settled(self, message_id: str) -> bool:
        """Tell whether a followed message needs no more reads."""
        found = self.statuses.get(message_id)
        return found is not None and settled(found[0], self.target)

    def record(self, read: Mapping[str, Status], now: float) -> None:
        """Keep a round's statuses; past the deadline, a message still ``unknown`` is settled."""
        for message_id, (status, reason) in read.items():
            if status == MessageStatus.UNKNOWN and now >= self.unknown_deadline:
                status, reason = DELIVERY_UNKNOWN, dict(_SILENT_REASON)
            self.statuses[message_id] = (status, reason)

    def known(self) -> dict[str, Status]:
        """Return the statuses of the followed messages that have settled."""
        return {m: self.statuses[m] for m in self.followed if self.is_settled(m)}


class BlipMessageStatusTrigger(BaseTrigger):
    """Poll ``get /notifications?id=`` until every message reached ``target`` or failed.

    Safe to replay after a triggerer restart: it never sends anything, it only reads, and the
    deadline for unknown messages is absolute, so a restart does not move it. Each round
    reads every message not settled yet, once, through :meth:`BlipHook.get_message_statuses`
    (which paces reads within the connection's budget); settled messages are never read
    again. It waits before each round, the first included: the sensor that deferred has just
    read every message.

    :param target: ``accepted``, ``received`` or ``consumed``.
    :param blip_conn_id: the Blip connection.
    :param message_ids: the messages to follow.
    :param results: result files (``BlipNotifyOperator``'s, or the sensor's hand-off file)
        whose sent rows to follow too: the trigger reads the ids itself, so its stored
        arguments stay small whatever the chunk size. A row whose ``delivery`` has settled
        is not read.
    :param known: statuses of messages followed too that have already settled, by message id:
        never read, handed back as they are.
    :param poll_interval: seconds before the first round; doubled after each round.
    :param max_poll_interval: the longest wait between two rounds, in seconds.
    :param unknown_deadline: epoch seconds after which a message Blip still reports nothing on
        is settled ``delivery_unknown``. Default: :data:`DEFAULT_UNKNOWN_AFTER` from when the
        trigger is built (the sensor gives its own, from its first read).
    """

    def __init__(
        self,
        *,
        target: str,
        blip_conn_id: str,
        message_ids: list[str] | None = None,
        results: list[str] | None = None,
        known: Mapping[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        unknown_deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.message_ids = list(message_ids or [])
        self.results = list(results or [])
        # JSON turns the (status, reason) tuples into lists: back to tuples.
        self.known: dict[str, Status] = {m: (str(s[0]), s[1]) for m, s in (known or {}).items()}
        self.target = target
        self.blip_conn_id = blip_conn_id
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        # Fixed here and stored by serialize(): a rebuilt trigger keeps the same deadline.
        self.unknown_deadline = (
            clock() + DEFAULT_UNKNOWN_AFTER if unknown_deadline is None else unknown_deadline
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_blip.triggers.blip.BlipMessageStatusTrigger",
            {
                "target": self.target,
                "blip_conn_id": self.blip_conn_id,
                "message_ids": self.message_ids,
                "results": self.results,
                "known": {m: list(s) for m, s in self.known.items()},
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "unknown_deadline": self.unknown_deadline,
            },
        )

    def _wait(self) -> DeliveryWait:
        wait = DeliveryWait(MessageStatus(self.target), self.unknown_deadline)
        for message_id in [*self.known, *self.message_ids]:
            wait.follow(message_id, self.known.get(message_id))
        for uri in self.results:
            wait.follow_rows(_rows(uri), uri)
        return wait

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = BlipHook(self.blip_conn_id)
        try:
            wait = await asyncio.to_thread(self._wait)  # reads the results files
            interval = self.poll_interval
            while pending := wait.pending():
                self.log.info(
                    "%d of %d messages still on their way; next read in %g s",
                    len(pending),
                    len(wait.followed),
                    interval,
                )
                await sleep(interval)
                # The sync hook (its pacing, retries and errors) runs in a thread: no blocking
                # call on the triggerer's event loop.
                wait.record(await asyncio.to_thread(hook.get_message_statuses, pending), clock())
                interval = next_interval(interval, self.max_poll_interval)
        except BlipError as exc:
            yield TriggerEvent(error_event(exc))
            return
        yield TriggerEvent({"status": "success", "statuses": wait.known()})


def _rows(uri: str) -> list[dict[str, Any]]:
    from airflow_provider_blip.utils.runfiles import read_jsonl, storage_path

    return list(read_jsonl(storage_path(uri)))


def error_event(exc: BlipError) -> dict[str, Any]:
    """Build the event of a failed wait: the error's class name, its message and its fields.

    The fields are the error's plain attributes (``http_status``, ``retry_after``, ``code``...),
    so :func:`reported_error` can raise the same error on the worker. Text is masked and
    nested values (a command's whole response) are left out: the event is stored by Airflow.
    """
    return {
        "status": "error",
        "error_type": type(exc).__name__,
        "message": str(exc),
        "error": {
            name: mask_identities(value) if isinstance(value, str) else value
            for name, value in vars(exc).items()
            if not name.startswith("_") and isinstance(value, str | int | float | bool | None)
        },
    }


def reported_error(event: Mapping[str, Any]) -> BlipError:
    """Rebuild the error a trigger reported: its class from :mod:`airflow_provider_blip.exceptions`.

    An unknown class name gives the base :class:`BlipError`, with the message.
    """
    message = str(event.get("message") or "no message")
    cls = getattr(exceptions, str(event.get("error_type")), None)
    if not (isinstance(cls, type) and issubclass(cls, BlipError)):
        return BlipError(message)
    # Built without its __init__, as pickle rebuilds objects: the classes' constructors
    # differ, while the state of each is its message and plain attributes.
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    fields = event.get("error")
    if isinstance(fields, dict):
        error.__dict__.update(fields)
    return error
