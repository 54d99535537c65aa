"""Wait for WhatsApp messages sent through Blip to be delivered (or read)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_blip.exceptions import BlipError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.operators._batch import (
    DEFAULT_MAX_FAILED_RATIO,
    apply_failure_policy,
    as_records,
    check_ratio,
)
from airflow_provider_blip.triggers.blip import BlipMessageStatusTrigger, awaits_delivery, settled
from airflow_provider_blip.utils.results import summarize
from airflow_provider_blip.utils.runfiles import storage_path, write_jsonl
from airflow_provider_blip.utils.status import TARGETS, MessageStatus

if TYPE_CHECKING:
    from airflow.sdk import Context

_DELIVERY = {s.value for s in MessageStatus}

#: Blip returns notifications for 3 days only (blip-api.md §8): a longer wait reads nothing.
NOTIFICATION_WINDOW = timedelta(days=3)


class BlipMessageStatusSensor(BaseSensorOperator):
    """Wait until every message of a send reaches ``target`` (``failed`` is final too).

    Reads ``get /notifications?id=`` for each message still on its way, reduces the events
    from several hops to the furthest one, and stops when each message has reached the
    target or failed. With ``deferrable=True`` the wait runs in the triggerer, which only
    reads; sends always happen on the worker.

    .. seealso:: docs/sensors/message_status.md

    :param messages: what a send returned: result rows of :class:`BlipSendTemplateOperator`
        (rows with a ``message_id``; the others are passed through) or message ids; or the
        output of :class:`~airflow_provider_blip.operators.notify.BlipNotifyOperator` (one
        chunk's ``{"results": uri, ...}``, e.g. through ``.expand()``), whose statuses then go
        to a file next to the results and XCom gets its reference and counts. (templated)
    :param target: ``accepted``, ``received`` (default) or ``consumed`` (read). (templated)
    :param blip_conn_id: the Blip connection. (templated)
    :param max_failed_ratio: share of messages that may end ``failed`` before the task fails.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :return: the result rows with each message's final ``status`` (the target or beyond,
        or ``failed``) and, for failures, Blip's ``reason`` and ``code`` (for a chunk:
        ``{"delivery": uri, "counts": {...}}``). A message with no notification yet keeps the
        sensor waiting; past ``timeout`` the task fails.
    """

    template_fields = ("messages", "target", "blip_conn_id")
    ui_color = "#9AE6F0"

    def __init__(
        self,
        *,
        messages: Any,
        target: str = "received",
        blip_conn_id: str = BlipHook.default_conn_name,
        max_failed_ratio: float = DEFAULT_MAX_FAILED_RATIO,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 30,
        timeout: float = 6 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if self.timeout > NOTIFICATION_WINDOW.total_seconds():
            raise ValueError("timeout may not exceed 3 days: Blip keeps notifications for 3 days only")
        self.messages = messages
        self.target = target
        self.blip_conn_id = blip_conn_id
        self.max_failed_ratio = check_ratio(max_failed_ratio)
        self.deferrable = deferrable
        # Poke mode keeps its process between pokes: a settled message is never read again.
        self._known: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._rows: list[dict[str, Any]] | None = None

    @cached_property
    def hook(self) -> BlipHook:
        """The hook of this task (built on first use)."""
        return BlipHook(self.blip_conn_id)

    def _target(self) -> MessageStatus:
        target = MessageStatus(self.target) if self.target in MessageStatus._value2member_map_ else None
        if target not in TARGETS:
            raise ValueError(f"target must be one of {[t.value for t in TARGETS]}, got {self.target!r}")
        return target

    def _results_file(self) -> str | None:
        chunk = self.messages
        return str(chunk["results"]) if isinstance(chunk, dict) and "results" in chunk else None

    def _records(self) -> list[dict[str, Any]]:
        # Read once per sensor instance: a chunk's file is not read again on every poke.
        if self._rows is None:
            self._rows = self._read_records()
        return self._rows

    def _read_records(self) -> list[dict[str, Any]]:
        if self._results_file() is not None:
            return as_records([self.messages])
        items = self.messages if isinstance(self.messages, list) else [self.messages]
        rows = [
            {"row": i, "phone": "", "message_id": m, "status": "sent"} if isinstance(m, str) else m
            for i, m in enumerate(items, 1)
        ]
        return as_records(rows)

    def poke(self, context: Context) -> PokeReturnValue:
        target = self._target()
        records = self._records()
        ids = followed_ids(records)
        unsettled = [m for m in ids if m not in self._known or not settled(self._known[m][0], target)]
        self._known.update(self.hook.get_message_statuses(unsettled))
        pending = [m for m in unsettled if not settled(self._known[m][0], target)]
        self.log.info(
            "%d of %d messages settled (target %s)", len(ids) - len(pending), len(ids), target.value
        )
        done = not pending
        return PokeReturnValue(
            is_done=done, xcom_value=merge_statuses(records, self._known) if done else None
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return self.finish(super().execute(context))
        first = self.poke(context)
        if first.is_done and first.xcom_value is not None:
            return self.finish(first.xcom_value)
        results = self._results_file()
        self.defer(
            trigger=BlipMessageStatusTrigger(
                # A chunk's trigger reads its ids from the file: its stored kwargs stay small.
                message_ids=[] if results else followed_ids(self._records()),
                results=[results] if results else None,
                target=self._target().value,
                blip_conn_id=self.blip_conn_id,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the result rows (or the error it reports)."""
        if event.get("status") != "success":
            raise BlipError(f"waiting for Blip delivery failed: {event.get('message')}")
        return self.finish(merge_statuses(self._records(), event["statuses"]))

    def finish(self, results: list[dict[str, Any]]) -> Any:
        """Log the delivery outcome (numbers masked) and apply the failure policy."""
        # The ratio is over the messages waited on; rows that failed earlier steps were
        # already judged there.
        followed = [r for r in results if r.get("message_id") and r.get("status") in _DELIVERY]
        apply_failure_policy(self.log, "delivery", results, followed, self.max_failed_ratio)
        source = self._results_file()
        if source is None:
            return results
        return write_delivery(source, results)


def write_delivery(results_uri: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write a chunk's delivery statuses next to its results; return the reference and counts."""
    source = storage_path(results_uri)
    target = source.parent / f"delivery-{source.stem}.jsonl"
    write_jsonl(target, rows)
    return {"delivery": str(target), "rows": len(rows), "counts": summarize(rows)}


def followed_ids(records: list[dict[str, Any]]) -> list[str]:
    """Return the ids of the messages the sensor waits on: sent, and not settled yet."""
    return [r["message_id"] for r in records if awaits_delivery(r)]


def merge_statuses(
    records: list[dict[str, Any]], statuses: dict[str, tuple[str, dict[str, Any] | None]]
) -> list[dict[str, Any]]:
    """Put each message's final status (and failure reason) on its result row."""
    merged = []
    for record in records:
        found = statuses.get(record.get("message_id", ""))
        if found is None:
            merged.append(record)
            continue
        status, reason = found
        row = {**record, "status": status}
        if reason:
            row.update(reason=str(reason.get("description", "")), code=reason.get("code"))
        merged.append(row)
    return merged
