"""Delivery status of a sent message, reduced from its notifications (docs/blip-api-facts.md §8; no I/O).

A send only gets a 202; Blip reports what happened next as notifications carrying the
message id: ``accepted``, ``dispatched``, ``received`` (delivered), ``consumed`` (read) or
``failed`` with a reason. The same message can be reported several times, by several hops
(tunnel and router nodes), in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any


class MessageStatus(StrEnum):
    """How far a message got: ``unknown`` < ``accepted`` < ``dispatched`` < ``received`` < ``consumed``.

    ``failed`` is final and sits outside that ladder: it reaches no other status.
    """

    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    RECEIVED = "received"
    CONSUMED = "consumed"
    FAILED = "failed"
    # Blip has reported nothing on the message yet. A reading, never a recipient's status: a
    # send whose outcome is not known is RecipientStatus.SEND_UNKNOWN, a message that stayed
    # silent past the wait's limit DELIVERY_UNKNOWN.
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Return the place on the delivery ladder (0 for unknown to 4 for consumed; failed is 5).

        Failed ranks highest because it wins when events are reduced (docs/blip-api-facts.md §8); use
        :meth:`reached` rather than comparing ranks to ask whether a message got somewhere.
        """
        return _RANKS[self]

    def reached(self, target: MessageStatus) -> bool:
        """Say whether a message with this status has got as far as ``target``.

        ``received`` has reached ``accepted``; ``failed`` reaches nothing but ``failed``, and
        only ``failed`` reaches ``failed``.
        """
        target = MessageStatus(target)
        if MessageStatus.FAILED in (self, target):
            return self is target
        return self.rank >= target.rank


_RANKS = {
    MessageStatus.UNKNOWN: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.DISPATCHED: 2,
    MessageStatus.RECEIVED: 3,
    MessageStatus.CONSUMED: 4,
    MessageStatus.FAILED: 5,
}

#: The statuses a sensor may wait for.
TARGETS: tuple[MessageStatus, ...] = (MessageStatus.ACCEPTED, MessageStatus.RECEIVED, MessageStatus.CONSUMED)

# Events that say something about delivery; `deleted` and the obsolete `validated` and
# `authorized` (docs/blip-api-facts.md §2) do not, and neither does anything Blip may add later.
_DELIVERY_EVENTS = {s.value: s for s in MessageStatus if s is not MessageStatus.UNKNOWN}


def _reason(notification: Mapping[str, Any]) -> dict[str, Any]:
    reason = notification.get("reason")
    reason = reason if isinstance(reason, Mapping) else {}
    code = reason.get("code")
    try:
        code = None if code is None else int(code)
    except (TypeError, ValueError):
        code = None  # a code we cannot read is as good as none; the description stays
    # LIME requires a reason on `failed`, but say so rather than crash if a hop sent none.
    return {"code": code, "description": str(reason.get("description") or "no reason given")}


def _event(notification: Mapping[str, Any]) -> MessageStatus | None:
    # Notifications carry `event`; thread-history items (docs/blip-api-facts.md §8.2) carry `status`.
    event = notification.get("event", notification.get("status"))
    return _DELIVERY_EVENTS.get(str(event).strip().lower()) if event is not None else None


def reduce_events(notifications: Iterable[Mapping[str, Any]]) -> tuple[MessageStatus, dict[str, Any] | None]:
    """Reduce the notifications of one message to its furthest status.

    ``failed`` wins over everything, with the reason of the first failed notification,
    preferring one that has a code (``{"code": int | None, "description": str}``);
    otherwise the highest-ranked event wins. Duplicates and order do not matter; unknown events are ignored.

    :param notifications: notification envelopes (or thread-history items) of one message.
    :return: the status and, for ``failed`` only, its reason; ``(UNKNOWN, None)`` when no
        delivery event is present.
    """
    best = MessageStatus.UNKNOWN
    failure: dict[str, Any] | None = None
    for notification in notifications:
        event = _event(notification)
        if event is None:
            continue
        if event is MessageStatus.FAILED:
            reason = _reason(notification)
            # Keep the first reason with a code: another hop may have sent a bare failure.
            if failure is None or (failure["code"] is None and reason["code"] is not None):
                failure = reason
        if event.rank > best.rank:
            best = event
    return best, failure
