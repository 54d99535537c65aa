"""Wait for WhatsApp messages sent through Blip to be delivered (or read)."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.jobs.policy import (
    DEFAULT_MAX_FAILED_RATIO,
    apply_failure_policy,
    as_records,
    check_ratio,
)
from airflow_provider_blip.plugins.links import BlipDeliveryLink
from airflow_provider_blip.triggers.blip import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_UNKNOWN_AFTER,
    BlipMessageStatusTrigger,
    DeliveryWait,
    Status,
    awaits_delivery,
    reported_error,
)
from airflow_provider_blip.utils.refs import DeliveryRef
from airflow_provider_blip.utils.results import RecipientStatus, masked_table, summarize
from airflow_provider_blip.utils.runfiles import storage_path, write_jsonl
from airflow_provider_blip.utils.status import TARGETS, MessageStatus

SENT = RecipientStatus.SENT.value

if TYPE_CHECKING:
    from airflow.sdk import Context

_DELIVERY = {s.value for s in MessageStatus} | {RecipientStatus.DELIVERY_UNKNOWN.value}

#: Blip returns notifications for 3 days only (docs/blip-api-facts.md §8): a longer wait reads nothing.
NOTIFICATION_WINDOW = timedelta(days=3)


class BlipMessageStatusSensor(BaseSensorOperator):
    """Wait until every message of a send reaches ``target`` (``failed`` is final too).

    Reads ``get /notifications?id=`` for each message still on its way, reduces the events
    from several hops to the furthest one, and stops when each message has reached the
    target or failed. A message Blip still reports nothing on ``unknown_after`` its first read
    is settled ``delivery_unknown`` and no longer read. With ``deferrable=True`` the wait runs
    in the triggerer, which only reads; sends always happen on the worker.

    .. seealso:: docs/sensors/message_status.md

    :param messages: what a send returned: result rows of :class:`BlipSendTemplateOperator`
        (rows with a ``message_id``; the others are passed through) or message ids; or the
        output of :class:`~airflow_provider_blip.operators.notify.BlipNotifyOperator` (one
        chunk's ``{"results": uri, ...}``, e.g. through ``.expand()``), whose statuses then go
        to a file next to the results and XCom gets its reference and counts. A row whose
        ``delivery`` (read by the notify task) already reached the target or failed is not
        read again. (templated)
    :param target: ``accepted``, ``received`` (default) or ``consumed`` (read). (templated)
    :param blip_conn_id: the Blip connection. (templated)
    :param max_failed_ratio: share of messages that may end ``failed`` before the task fails.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param poke_interval: seconds before the second round of reads; the wait doubles after
        each round (``exponential_backoff``) up to ``max_wait``.
    :param max_wait: the longest wait between two rounds (seconds or ``timedelta``).
    :param exponential_backoff: double the wait after each round; ``False`` waits
        ``poke_interval`` every time.
    :param unknown_after: how long after its first read a message of which Blip reports
        nothing at all is given up as ``delivery_unknown`` (seconds or ``timedelta``).
    :return: the result rows with each message's final ``status`` (the target or beyond,
        ``failed`` or ``delivery_unknown``) and, for those two, a ``reason`` and ``code``
        (for a chunk: ``{"delivery": uri, "counts": {...}}``). Past ``timeout`` the task fails.
    """

    template_fields = ("messages", "target", "blip_conn_id")
    ui_color = "#9AE6F0"
    operator_extra_links = (BlipDeliveryLink(),)  # the run's funnel on the Blip page

    def __init__(
        self,
        *,
        messages: Any,
        target: str = "received",
        blip_conn_id: str = BlipHook.default_conn_name,
        max_failed_ratio: float = DEFAULT_MAX_FAILED_RATIO,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = DEFAULT_POLL_INTERVAL,
        max_wait: timedelta | float | None = DEFAULT_MAX_POLL_INTERVAL,
        exponential_backoff: bool = True,
        unknown_after: timedelta | float = DEFAULT_UNKNOWN_AFTER,
        timeout: float = 6 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            poke_interval=poke_interval,
            timeout=timeout,
            max_wait=max_wait,
            exponential_backoff=exponential_backoff,
            **kwargs,
        )
        if self.timeout > NOTIFICATION_WINDOW.total_seconds():
            raise BlipConfigError("timeout may not exceed 3 days: Blip keeps notifications for 3 days only")
        self.unknown_after = _seconds("unknown_after", unknown_after)
        self.messages = messages
        self.target = target
        self.blip_conn_id = blip_conn_id
        self.max_failed_ratio = check_ratio(max_failed_ratio)
        self.deferrable = deferrable
        # Poke mode keeps its process between pokes: a settled message is never read again.
        self._wait: DeliveryWait | None = None
        self._rows: list[dict[str, Any]] | None = None

    @cached_property
    def hook(self) -> BlipHook:
        """The hook of this task (built on first use)."""
        return BlipHook(self.blip_conn_id)

    def _target(self) -> MessageStatus:
        target = MessageStatus(self.target) if self.target in MessageStatus._value2member_map_ else None
        if target not in TARGETS:
            raise BlipConfigError(f"target must be one of {[t.value for t in TARGETS]}, got {self.target!r}")
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
            {"row": i, "phone": "", "message_id": m, "status": SENT} if isinstance(m, str) else m
            for i, m in enumerate(items, 1)
        ]
        return as_records(rows)

    def _delivery_wait(self, context: Context) -> DeliveryWait:
        # Built at the first poke, which is the wait's first read: the deadline counts from it.
        if self._wait is None:
            wait = DeliveryWait(self._target(), self._first_read_at(context) + self.unknown_after)
            wait.follow_rows(self._records(), self._results_file() or "messages")
            self._wait = wait
        return self._wait

    def _first_read_at(self, context: Context) -> float:
        # In reschedule mode every poke is a new process: the first one's time is Airflow's.
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return first.timestamp()
        return time.time()

    def poke(self, context: Context) -> PokeReturnValue:
        wait = self._delivery_wait(context)
        pending = wait.pending()
        if pending:
            wait.record(self.hook.get_message_statuses(pending), time.time())
        left = len(wait.pending())
        self.log.info(
            "%d of %d messages settled (target %s)",
            len(wait.followed) - left,
            len(wait.followed),
            wait.target.value,
        )
        return PokeReturnValue(
            is_done=not left,
            xcom_value=None if left else merge_statuses(self._records(), wait.statuses),
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return self.finish(super().execute(context))
        first = self.poke(context)
        if first.is_done and first.xcom_value is not None:
            return self.finish(first.xcom_value)
        self.defer(
            trigger=self._trigger(self._delivery_wait(context)),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _trigger(self, wait: DeliveryWait) -> BlipMessageStatusTrigger:
        """Hand the wait over: what is still pending, what has settled, the same deadline."""
        results = self._results_file()
        # A chunk's trigger reads its rows from a file: its stored kwargs stay small.
        handoff = None if results is None else write_handoff(results, self._records(), wait)
        return BlipMessageStatusTrigger(
            target=wait.target.value,
            blip_conn_id=self.blip_conn_id,
            message_ids=wait.pending() if handoff is None else None,
            known=wait.known() if handoff is None else None,
            results=None if handoff is None else [handoff],
            poll_interval=self.poke_interval,
            max_poll_interval=self._max_interval(),
            unknown_deadline=wait.unknown_deadline,
        )

    def _max_interval(self) -> float:
        if not self.exponential_backoff:
            return float(self.poke_interval)
        return self.max_wait.total_seconds() if self.max_wait else float(self.timeout)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the result rows, or raise the error it reports."""
        if event.get("status") != "success":
            error = reported_error(event)
            error.add_note("raised in the triggerer while waiting for Blip delivery")
            raise error
        return self.finish(merge_statuses(self._records(), event["statuses"]))

    def finish(self, results: list[dict[str, Any]]) -> Any:
        """Log the delivery outcome (numbers masked) and apply the failure policy."""
        # The ratio is over the messages waited on; rows that failed earlier steps were
        # already judged there.
        followed = [r for r in results if r.get("message_id") and r.get("status") in _DELIVERY]
        silent = [r for r in followed if r["status"] == RecipientStatus.DELIVERY_UNKNOWN]
        if silent:
            self.log.warning(
                "Blip reported nothing on %d messages after unknown_after=%gs; settled %s:\n%s",
                len(silent),
                self.unknown_after,
                RecipientStatus.DELIVERY_UNKNOWN.value,
                masked_table(silent, limit=50),
            )
        apply_failure_policy(self.log, "delivery", results, followed, self.max_failed_ratio)
        source = self._results_file()
        if source is None:
            return results
        return write_delivery(source, results)


def _seconds(name: str, value: timedelta | float) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise BlipConfigError(
            f"{name} must be a non-negative number of seconds or a timedelta, got {value!r}"
        )
    return float(seconds)


def write_delivery(results_uri: str, rows: list[dict[str, Any]]) -> DeliveryRef:
    """Write a chunk's delivery statuses next to its results; return the reference and counts."""
    source = storage_path(results_uri)
    target = source.parent / f"delivery-{source.stem}.jsonl"
    write_jsonl(target, rows)
    return DeliveryRef(delivery=str(target), rows=len(rows), counts=summarize(rows))


def write_handoff(results_uri: str, records: list[dict[str, Any]], wait: DeliveryWait) -> str:
    """Write what a deferring sensor read, for its trigger; return the file's URI.

    One line per followed row (``row``, ``message_id``, ``status``; no phone number) with, for
    a message already settled, ``delivery`` and ``delivery_reason``: the trigger never reads
    those again. Next to the results, as ``delivery-{stem}.deferred.jsonl``.
    """
    known = wait.known()

    def line(record: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {k: record[k] for k in ("row", "message_id", "status") if k in record}
        found = known.get(str(record["message_id"]))
        if found is not None:
            entry["delivery"] = found[0]
            if found[1] is not None:
                entry["delivery_reason"] = found[1]
        return entry

    source = storage_path(results_uri)
    target = source.parent / f"delivery-{source.stem}.deferred.jsonl"
    write_jsonl(target, (line(r) for r in records if awaits_delivery(r)))
    return str(target)


def merge_statuses(records: list[dict[str, Any]], statuses: dict[str, Status]) -> list[dict[str, Any]]:
    """Put each message's final status (and its reason) on its result row.

    ``statuses`` holds every followed message, those a row's ``delivery`` settled included
    (:class:`DeliveryWait` takes them in). The final ``status``, ``reason`` and ``code``
    replace the row's ``delivery`` and ``delivery_reason``.
    """
    merged = []
    for record in records:
        found = statuses.get(record.get("message_id", ""))
        if found is None:
            merged.append(record)
            continue
        status, reason = found
        row = {k: v for k, v in record.items() if k not in ("delivery", "delivery_reason")}
        row["status"] = status
        if reason:
            row.update(reason=str(reason.get("description", "")), code=reason.get("code"))
        merged.append(row)
    return merged
