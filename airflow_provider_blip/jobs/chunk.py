"""One attempt of ``BlipNotifyOperator`` over one chunk: the per-recipient pipeline and its journal.

Each recipient goes lookup -> template -> context -> list -> first status read in one worker
thread; ``bounded_map`` keeps many recipients in flight and the hook's per-channel limiters
pace every request, so the steps of different recipients overlap and the first status reads
fill the commands budget while later messages are being sent. Every outcome is journaled as
it happens.

With a send window, a recipient whose local time is outside it is neither sent nor
journaled: the attempt notes when its window opens, and the operator defers until the
earliest such moment, then runs the chunk again; the journal makes that run skip the rest.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.jobs import steps
from airflow_provider_blip.utils.audience import Recipient
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.results import FAILED_STATUSES, SENT_STATUSES, RecipientStatus
from airflow_provider_blip.utils.status import MessageStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from airflow_provider_blip.hooks.blip import BlipHook
    from airflow_provider_blip.utils import journal
    from airflow_provider_blip.utils.ledger import LedgerWriter, SentLedger
    from airflow_provider_blip.utils.templates import TemplateSpec
    from airflow_provider_blip.utils.windows import SendWindow

#: A recipient outside the send window: not a result, so never journaled nor counted.
WAITING = "waiting_for_window"

#: Failed or unknown rows kept to show in the task log (numbers masked there).
FAILURE_SAMPLE = 50
_SHOWN = FAILED_STATUSES | {RecipientStatus.SEND_UNKNOWN}
# Failures that say the audience or the template is wrong, counted by the breaker. Rows the
# split rejected (invalid number, missing values) were judged before anything was spent.
_BREAKER_FAILURES = frozenset(
    {
        RecipientStatus.NOT_ON_WHATSAPP,
        RecipientStatus.LOOKUP_FAILED,
        RecipientStatus.SEND_FAILED,
        RecipientStatus.CONTEXT_FAILED,
        RecipientStatus.LIST_FAILED,
    }
)


class Breaker:
    """Stops new sends once too many of the recipients acted on failed (thread-safe).

    :param max_failed_ratio: the share of failures tolerated.
    :param min_sample: recipients acted on before the ratio is judged, so that the first
        failure of a job does not stop it.
    :param tripped: start tripped (an earlier chunk of the same job tripped it).
    """

    def __init__(self, max_failed_ratio: float, min_sample: int, *, tripped: bool = False) -> None:
        self.max_failed_ratio = max_failed_ratio
        self.min_sample = max(1, min_sample)
        self.tripped = tripped
        self.acted = 0
        self.failed = 0
        self._lock = threading.Lock()

    def record(self, row: dict[str, Any]) -> None:
        """Count one finished recipient that went to Blip; trip when the ratio is passed."""
        failed = row["status"] in _BREAKER_FAILURES or row.get("delivery") == MessageStatus.FAILED
        with self._lock:
            self.acted += 1
            self.failed += failed
            if self.acted >= self.min_sample and self.failed / self.acted > self.max_failed_ratio:
                self.tripped = True


@dataclasses.dataclass
class Pipeline:
    """What one chunk's recipients go through, beyond lookup and send.

    :param spec: the template.
    :param pairs: context writes, in order (``master-state`` first).
    :param required: columns that must be non-empty.
    :param message_id: derives a recipient's message id from its account.
    :param add_to_list: adds an account to the job's distribution list, or ``None``.
    :param first_read_after: seconds after a send before its first status read; ``None``: no read.
    :param ledger: the cross-job guard's view of recent sends, or ``None``.
    :param ledger_writer: records this job's sends for later jobs' guard, or ``None``.
    :param window: the send window in the recipient's local time, or ``None`` (always open).
    :param clock: the current time, aware; read for each recipient, as a run may cross the end.
    :param after_wait: this attempt resumes a chunk deferred for its window: rows it is the
        first to finish are marked ``waited``.
    """

    spec: TemplateSpec
    pairs: list[tuple[str, str | None]]
    required: Sequence[str]
    message_id: Callable[[str], str]
    add_to_list: Callable[[str], None] | None = None
    first_read_after: float | None = 1.0
    ledger: SentLedger | None = None
    ledger_writer: LedgerWriter | None = None
    window: SendWindow | None = None
    clock: Callable[[], datetime] = dataclasses.field(default=lambda: datetime.now(UTC))
    after_wait: bool = False


class ChunkRun:
    """One attempt over one chunk: per-recipient pipeline, journal, counts and a failure sample."""

    def __init__(
        self,
        hook: BlipHook,
        pipeline: Pipeline,
        progress: journal.Progress,
        writer: journal.Writer,
        breaker: Breaker,
    ) -> None:
        self.hook = hook
        self.pipeline = pipeline
        self.progress = progress
        self.writer = writer
        self.breaker = breaker
        self.failures: list[dict[str, Any]] = []
        #: Recipients left for their window this attempt, and the earliest opening among them.
        self.waiting = 0
        self.next_open: datetime | None = None
        #: Finished recipients (this attempt or earlier ones) that had waited for their window.
        self.waited = 0

    def all(self, lines: Iterator[dict[str, Any]], workers: int) -> Counter[str]:
        """Run every line; return the finished recipients per status (waiting ones left out)."""
        counts: Counter[str] = Counter()
        for record in bounded_map(self.one, lines, workers=workers):
            if record["status"] == WAITING:
                self.waiting += 1
                opens = record["opens"]
                self.next_open = opens if self.next_open is None else min(self.next_open, opens)
                continue
            counts[record["status"]] += 1
            self.waited += bool(record.get("waited"))
            if record["status"] in _SHOWN and len(self.failures) < FAILURE_SAMPLE:
                self.failures.append(record)
        return counts

    def one(self, line: dict[str, Any]) -> dict[str, Any]:
        row = int(line["row"])
        done = self.progress.done.get(row)
        record = done if done is not None else self._run(row, line)
        if record["status"] == WAITING:
            return record  # journaled once its window opens
        if done is None and self._had_waited(row, line):
            record = {**record, "waited": True}
        self.writer.result(record)
        return record

    def _had_waited(self, row: int, line: dict[str, Any]) -> bool:
        # After a wait, a row no earlier attempt finished or began to send is one that waited:
        # the deferred attempt went through every row, and journaled all but those.
        return self.pipeline.after_wait and "status" not in line and row not in self.progress.in_flight

    def _run(self, row: int, line: dict[str, Any]) -> dict[str, Any]:
        if "status" in line:  # rejected by the split: invalid number, duplicate, missing values
            return _compact(line)
        intent = self.progress.in_flight.get(row)
        if intent is None and self.breaker.tripped:
            reason = "not sent: the job's failure breaker tripped (see the task log)"
            return _compact({**line, "status": RecipientStatus.NOT_SENT.value, "reason": reason})
        ledger = self.pipeline.ledger
        if intent is None and ledger is not None and ledger.recently_sent(line["phone"]):
            reason = "sent the same template by this DAG within skip_if_sent_within"
            return _compact({**line, "status": RecipientStatus.RECENTLY_SENT.value, "reason": reason})
        # Rendered (and held to WhatsApp's limits) before any request: a row that cannot be
        # sent costs no lookup.
        content = steps.render({"row": row, "values": line.get("values")}, self.pipeline.spec)
        if isinstance(content, str):
            return _compact({**line, "status": RecipientStatus.INVALID_VALUES.value, "reason": content})
        # A row caught mid-send is settled now whatever the hour: its message may have left.
        closed = self._outside_window(row, line) if intent is None else None
        if closed is not None:
            return closed
        record = self._account(row, line, intent)
        if record.get("status") == RecipientStatus.VERIFIED.value:
            record = self._send(row, record, content)
        if record["status"] != RecipientStatus.INVALID_VALUES.value:
            self.breaker.record(record)
        return _compact(record)

    def _outside_window(self, row: int, line: dict[str, Any]) -> dict[str, Any] | None:
        """Return a waiting record when the recipient's window is closed, else ``None``."""
        window = self.pipeline.window
        if window is None:
            return None
        now = self.pipeline.clock()
        if window.is_open(line["phone"], now):
            return None
        try:
            opens = window.next_open(line["phone"], now)
        except BlipConfigError as error:  # its zones never share an open hour: waiting is forever
            reason = f"not sent: {error}"
            return _compact({**line, "status": RecipientStatus.NOT_SENT.value, "reason": reason})
        return {"row": row, "status": WAITING, "opens": opens}

    def _send(self, row: int, record: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        mid = self.pipeline.message_id(record["account"])
        self.writer.intent(row, record["account"], mid)  # before the request: a killed attempt leaves it
        record = steps.send(
            self.hook,
            record,
            content,
            mid,
            check_first=self.progress.must_check(row),
            retryable_status=RecipientStatus.SEND_UNKNOWN,
        )
        if record["status"] != RecipientStatus.SENT.value:
            return record
        sent_at = time.monotonic()
        if self.pipeline.ledger_writer is not None:
            self.pipeline.ledger_writer.add(record["phone"])
        if self.pipeline.pairs:
            record = steps.set_context(
                self.hook, record, self.pipeline.pairs, retryable_status=RecipientStatus.SEND_UNKNOWN
            )
        if self.pipeline.add_to_list is not None and record["status"] in SENT_STATUSES:
            record = steps.add_to_list(self.pipeline.add_to_list, record)
        return self._first_read(record, sent_at)

    def _first_read(self, record: dict[str, Any], sent_at: float) -> dict[str, Any]:
        # One read per message while later ones are still being sent: most waits then find
        # their messages settled and read nothing (the commands budget is used once).
        delay = self.pipeline.first_read_after
        if delay is None or record["status"] not in SENT_STATUSES:
            return record
        time.sleep(max(0.0, sent_at + delay - time.monotonic()))
        return steps.read_delivery(self.hook, record)

    def _account(self, row: int, line: dict[str, Any], intent: dict[str, Any] | None) -> dict[str, Any]:
        if intent and intent.get("account"):  # looked up by an earlier attempt: no second lookup
            return {**line, "status": RecipientStatus.VERIFIED.value, "account": intent["account"]}
        recipient = Recipient(row, line["phone"], line.get("values") or {})
        return steps.verify(
            self.hook, recipient, self.pipeline.required, retryable_status=RecipientStatus.SEND_UNKNOWN
        )


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    # Template values stay in the chunk file; results keep what the report and sensor need.
    return {k: v for k, v in record.items() if k != "values"}
