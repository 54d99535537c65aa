"""One try of ``BlipNotifyOperator`` over one chunk: the per-recipient pipeline and its journal.

Each recipient goes lookup -> template -> context in one worker thread; ``bounded_map`` keeps
many recipients in flight and the hook's per-channel limiters pace every request, so the
steps of different recipients overlap. Every outcome is journaled as it happens.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.operators import _steps as steps
from airflow_provider_blip.utils.audience import Recipient
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.ids import task_message_id
from airflow_provider_blip.utils.results import FAILED_STATUSES, RecipientStatus

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow_provider_blip.hooks.blip import BlipHook
    from airflow_provider_blip.utils import journal
    from airflow_provider_blip.utils.templates import TemplateSpec

#: Failed or unknown rows kept to show in the task log (numbers masked there).
FAILURE_SAMPLE = 50
_SHOWN = FAILED_STATUSES | {RecipientStatus.UNKNOWN}


class ChunkRun:
    """One try over one chunk: per-recipient pipeline, journal, counts and a failure sample."""

    def __init__(
        self,
        hook: BlipHook,
        spec: TemplateSpec,
        pairs: list[tuple[str, str | None]],
        required_columns: Sequence[str] | None,
        progress: journal.Progress,
        writer: journal.Writer,
        ti: Any,
    ) -> None:
        self.hook = hook
        self.spec = spec
        self.pairs = pairs
        self.required = required_columns if required_columns is not None else sorted(spec.columns())
        self.progress = progress
        self.writer = writer
        self.ti = ti
        self.failures: list[dict[str, Any]] = []

    def all(self, lines: Iterator[dict[str, Any]], workers: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        for record in bounded_map(self.one, lines, workers=workers):
            counts[record["status"]] += 1
            if record["status"] in _SHOWN and len(self.failures) < FAILURE_SAMPLE:
                self.failures.append(record)
        return counts

    def one(self, line: dict[str, Any]) -> dict[str, Any]:
        row = int(line["row"])
        done = self.progress.done.get(row)
        record = done if done is not None else self._run(row, line)
        self.writer.result(record)
        return record

    def _run(self, row: int, line: dict[str, Any]) -> dict[str, Any]:
        if "status" in line:  # rejected by the split: invalid number or duplicate
            return {k: v for k, v in line.items() if k != "values"}
        record = self._account(row, line)
        if record.get("status") != RecipientStatus.VERIFIED.value:
            return record
        content = steps.render(record, self.spec)
        if isinstance(content, str):
            return _compact({**record, "status": RecipientStatus.INVALID_VALUES.value, "reason": content})
        mid = task_message_id(self.ti, recipient=record["account"], template=self.spec.name)
        self.writer.intent(row, record["account"], mid)  # before the request: a killed try leaves it
        record = steps.send(
            self.hook,
            record,
            content,
            mid,
            check_first=self.progress.must_check(row),
            retryable_status=RecipientStatus.UNKNOWN,
        )
        if record["status"] == RecipientStatus.SENT.value and self.pairs:
            record = steps.set_context(
                self.hook, record, self.pairs, retryable_status=RecipientStatus.UNKNOWN
            )
        return _compact(record)

    def _account(self, row: int, line: dict[str, Any]) -> dict[str, Any]:
        intent = self.progress.in_flight.get(row)
        if intent and intent.get("account"):  # looked up by an earlier try: no second lookup
            return {**line, "status": RecipientStatus.VERIFIED.value, "account": intent["account"]}
        recipient = Recipient(row, line["phone"], line.get("values") or {})
        return steps.verify(self.hook, recipient, self.required, retryable_status=RecipientStatus.UNKNOWN)


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    # Template values stay in the chunk file; results keep what the report and sensor need.
    return {k: v for k, v in record.items() if k != "values"}
