"""The notification job at scale: split an audience into chunks, then run each chunk end to end.

``BlipSplitAudienceOperator`` streams the audience once into chunk files and returns their
references for ``.expand()``. ``BlipNotifyOperator`` takes one chunk through verify → send →
move in the flow *per recipient*, many recipients at once: lookups of later recipients run
while earlier ones wait for a message slot, so the job is bounded by the plan's rates, not
by the sum of three stages. Results go to files; XCom carries references and counts.

.. seealso:: docs/operators/notify.md
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.exceptions import BlipBatchError, BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.jobs import steps
from airflow_provider_blip.jobs.chunk import Breaker, ChunkRun, Pipeline
from airflow_provider_blip.jobs.policy import as_ratio, check_ratio
from airflow_provider_blip.jobs.registry import checked_spec
from airflow_provider_blip.operators._batch import BlipBatchOperator
from airflow_provider_blip.plugins.links import BlipDeliveryLink
from airflow_provider_blip.utils import journal, runfiles
from airflow_provider_blip.utils.audience import Recipient, parse_audience
from airflow_provider_blip.utils.ids import job_message_id
from airflow_provider_blip.utils.jobs import RunLayout, job_key
from airflow_provider_blip.utils.refs import ChunkOutcome, ChunkRef, is_chunk_ref
from airflow_provider_blip.utils.results import (
    FAILED_STATUSES,
    SENT_STATUSES,
    RecipientStatus,
    masked_table,
)
from airflow_provider_blip.utils.schedule import as_delay, check_stale
from airflow_provider_blip.utils.templates import TEMPLATE_ARGS, column_value, spec_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import TextIO

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_blip.utils.templates import TemplateSpec
    from airflow_provider_blip.utils.windows import SendWindow


#: Chunks per run unless ``max_chunks`` says otherwise: keeps the split's XCom (one
#: reference per chunk) far below 64 KB and well inside ``[core] max_map_length``.
DEFAULT_MAX_CHUNKS = 256


#: Share of the audience that may be unusable (bad number, missing value) before the split
#: refuses the whole job, before anything is spent.
DEFAULT_MAX_INVALID_RATIO = 0.2
_INVALID = frozenset({RecipientStatus.INVALID_NUMBER, RecipientStatus.INVALID_VALUES})


class BlipSplitAudienceOperator(BaseOperator):
    """Stream an audience into chunk files and return one reference per chunk, for ``.expand()``.

    Numbers are parsed and deduplicated across the whole audience here, once, and rows
    missing a required value are marked; invalid and duplicate rows go into their chunk with
    their status, so every row is reported. When more than ``max_invalid_ratio`` of the rows
    are unusable the job stops here, before any request is made.

    The files belong to the *job* (the DAG and its logical date, or ``campaign_key``), not to
    the Airflow run: a retry, a cleared task or a new run of the same logical date reuses the
    chunk list, so each recipient keeps its chunk and its message id, and nothing is sent twice.

    .. seealso:: docs/operators/notify.md

    :param audience: rows with a phone number and template values: a list of dicts, or the
        path or URL of a file (see "Audience files" in the docs). (templated)
    :param phone_column: the column holding the phone number. (templated)
    :param default_region: region for numbers written without country code. (templated)
    :param required_columns: columns that must be non-empty for a row to be sent to
        (usually the template's ``body_columns``). (templated)
    :param max_invalid_ratio: share of rows that may be unusable (invalid number or missing
        value; duplicates do not count) before the split fails the job, sending nothing.
    :param campaign_key: the job's identity, when the logical date is not the right one
        (e.g. one job per campaign, whatever day it runs). (templated)
    :param encoding: the file's text encoding (``utf-8``, ``cp1252``...); detected when ``None``. (templated)
    :param audience_format: ``csv``, ``jsonl`` or ``parquet``; from the file's extension when
        ``None``. (templated)
    :param chunk_size: rows per chunk; raised when the audience would need more than
        ``max_chunks`` chunks.
    :param max_chunks: most chunks per run (default 256, never above ``[core] max_map_length``).
    :param runs_path: root of the run files, local path or URL (default
        ``$AIRFLOW_HOME/blip-runs``; use shared storage when workers run on several
        machines). (templated)
    :param max_delay: the stale-run guard: a scheduled run starting later than its scheduled time
        (``data_interval_end``, else ``logical_date``) plus this (a timedelta or seconds)
        writes no chunk, so nothing is looked up or sent; it says why in its log and in the
        XCom ``stale``. ``None`` or 0: off. (templated)
    :return: ``[{"chunk": uri, "index": i, "rows": n}, ...]``; ``[]`` for a stale run.
    """

    template_fields = (
        "audience",
        "max_invalid_ratio",
        "phone_column",
        "default_region",
        "required_columns",
        "campaign_key",
        "encoding",
        "audience_format",
        "runs_path",
        "max_delay",
    )
    ui_color = BlipBatchOperator.ui_color  # no Blip request here: it only reads and writes files

    def __init__(
        self,
        *,
        audience: Any,
        phone_column: str = "phone",
        default_region: str = "BR",
        required_columns: Sequence[str] | None = None,
        max_invalid_ratio: float | str = DEFAULT_MAX_INVALID_RATIO,  # str: a Jinja template
        campaign_key: str | None = None,
        encoding: str | None = None,
        audience_format: str | None = None,
        chunk_size: int = 1000,
        max_chunks: int | None = None,
        runs_path: str | None = None,
        max_delay: timedelta | float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_delay = max_delay
        # The one seam tests replace: the clock the stale-run guard reads.
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        if chunk_size < 1:
            raise BlipConfigError(f"chunk_size must be at least 1, got {chunk_size!r}")
        self.audience = audience
        self.phone_column = phone_column
        self.default_region = default_region
        self.required_columns = required_columns
        self.max_invalid_ratio = check_ratio(max_invalid_ratio, "max_invalid_ratio")
        self.campaign_key = campaign_key
        self.encoding = encoding
        self.audience_format = audience_format
        self.chunk_size = chunk_size
        self.max_chunks = max_chunks
        self.runs_path = runs_path

    def execute(self, context: Context) -> list[ChunkRef]:
        stale = check_stale(context, as_delay(self.max_delay, "max_delay"), self._now())
        if stale is not None:
            self.log.warning("Blip split: %s", stale.reason)
            context["ti"].xcom_push(key="stale", value=stale.to_xcom())
            return []  # no chunk: the notify tasks map over nothing
        layout = RunLayout.for_job(self.runs_path, context["ti"].dag_id, job_key(context, self.campaign_key))
        if layout.manifest.exists():
            self.log.info("Reusing the chunks already written for this job (%s)", layout.chunks)
            return list(runfiles.read_json(layout.manifest))
        with _spool() as spool:
            counts = self._parse_into(spool)
            self._check(counts)
            spool.seek(0)
            size = self._size(sum(counts.values()))
            chunks = [
                ChunkRef(chunk=str(path), index=index, rows=count)
                for index, path, count in _write_chunks(layout, _lines(spool), size)
            ]
        runfiles.write_json(layout.manifest, chunks)  # last: no manifest means no finished split
        self.log.info(
            "Blip split: %d rows into %d %s of up to %d; %s",
            sum(c["rows"] for c in chunks),
            len(chunks),
            "chunk" if len(chunks) == 1 else "chunks",
            size,
            dict(sorted(counts.items())),
        )
        return chunks

    def _parse_into(self, spool: TextIO) -> Counter[str]:
        # One pass over the source (it may be a download): rows go to a private local spool
        # while they are counted; the chunks are cut from the spool once the size is known.
        rows = parse_audience(
            self.audience,
            phone_column=self.phone_column,
            default_region=self.default_region,
            encoding=self.encoding or None,
            format=self.audience_format or None,
        )
        required = list(self.required_columns or ())
        counts: Counter[str] = Counter()
        for item in rows:
            line = _chunk_line(item, required)
            counts[line.get("status", "valid")] += 1
            spool.write(runfiles.dumps(line) + "\n")
        return counts

    def _check(self, counts: Counter[str]) -> None:
        total = sum(counts.values())
        invalid = sum(n for status, n in counts.items() if status in _INVALID)
        ratio = as_ratio(self.max_invalid_ratio, "max_invalid_ratio")
        if total and invalid / total > ratio:
            found = ", ".join(f"{s}={n}" for s, n in sorted(counts.items()))
            raise BlipConfigError(
                f"audience: {invalid} of {total} rows are unusable ({invalid / total:.1%}), more than "
                f"max_invalid_ratio={ratio:g}; nothing was sent. Rows: {found}. "
                "Check the file's phone column and default_region, or raise max_invalid_ratio."
            )
        if not total:
            self.log.warning("Blip split: the audience has no rows")

    def _size(self, total: int) -> int:
        from airflow.sdk import conf

        limit = conf.getint("core", "max_map_length", fallback=1024)
        most = min(self.max_chunks or DEFAULT_MAX_CHUNKS, limit)
        return max(self.chunk_size, math.ceil(total / most))


def _spool() -> TextIO:
    import tempfile

    # Created 0600 by tempfile and deleted on close: the rows hold personal data.
    return tempfile.TemporaryFile("w+", encoding="utf-8", prefix="blip-split-")


def _lines(spool: TextIO) -> Iterator[dict[str, Any]]:
    import json

    return (json.loads(line) for line in spool)


def _write_chunks(
    layout: RunLayout, rows: Iterator[dict[str, Any]], size: int
) -> Iterator[tuple[int, ObjectStoragePath, int]]:
    """Write consecutive runs of ``size`` rows to numbered files; yield (index, path, rows)."""
    index = 0
    while True:
        batch = [line for _, line in zip(range(size), rows, strict=False)]
        if not batch:
            return
        path = layout.chunk(index)
        yield index, path, runfiles.write_jsonl(path, batch)
        index += 1


def _chunk_line(item: Any, required: list[str]) -> dict[str, Any]:
    if not isinstance(item, Recipient):
        return {"row": item.row, "phone": item.raw_phone, "status": item.status, "reason": item.reason}
    missing = [c for c in required if not str(column_value(item.values, c) or "").strip()]
    if missing:
        reason = f"row {item.row}: empty value in column(s) {', '.join(missing)}"
        status = RecipientStatus.INVALID_VALUES.value
        return {"row": item.row, "phone": item.phone, "status": status, "reason": reason}
    return {"row": item.row, "phone": item.phone, "values": item.values}


class BlipNotifyOperator(BlipBatchOperator):
    """Verify, send a template, move in the flow and list every recipient of one chunk, steps overlapping.

    Each recipient goes through lookup → template → context → list → a first status read on
    its own; many go at once, each request paced by the connection's per-channel rates, so
    the channels stay busy at their rates. Progress is journaled by every attempt: any way of
    running the same job again (retry, clear, ``tasks test``, a new run of the same logical
    date) skips finished recipients and asks Blip about any message that may have left, so
    nothing is sent twice and nothing is lost. A send whose outcome stays unknown after the
    hook's retries fails the task (after finishing the rest), so that its retry resolves it.

    ``max_failed_ratio`` works as a breaker: once at least ``min_failure_sample`` recipients
    went to Blip and more than that share of them failed (not on WhatsApp, refused, a failed
    delivery seen by the first read), no new message is sent in this job; the rest are
    ``not_sent``. The task still succeeds, so that delivery of what was sent is followed and
    the report says what happened; the example DAG's report then fails the run.

    .. seealso:: docs/operators/notify.md

    :param chunk: a reference from :class:`BlipSplitAudienceOperator` (``.expand(chunk=...)``),
        or the URI of a chunk file. (templated)
    :param template_name: the approved template's name. (templated)
    :param language: its language code, e.g. ``pt_BR``. (templated)
    :param policy: the language policy. (templated)
    :param namespace: the template namespace, for older on-premise numbers. (templated)
    :param header: ``{"type": "text"|"image"|"video"|"document", ...}``. (templated)
    :param body: body parameters in order: literals or ``{"column": name}``. (templated)
    :param body_columns: the columns that fill ``{{1}}``, ``{{2}}``... (templated)
    :param buttons: quick-reply payloads and URL suffixes. (templated)
    :param required_columns: columns that must be non-empty for a row to be looked up.
        Default: ``body_columns``. (templated)
    :param flow_id: the Builder flow id; with ``state_id``, where the user lands. (templated)
    :param state_id: the block id. (templated)
    :param master_state: the router's sub-bot, set first. (templated)
    :param variables: more context variables to set. (templated)
    :param list_name: add every recipient sent to this distribution list (created once if
        missing), in the same pipeline. (templated)
    :param skip_if_sent_within: skip a recipient this DAG sent the same template to within
        this duration, in any earlier job (status ``recently_sent``); ``None`` disables it.
    :param first_read_after: seconds after a send before the pipeline reads the message's
        status once (``None``: leave every read to the delivery wait).
    :param min_failure_sample: recipients acted on before the breaker judges the ratio.
    :param concurrency: recipients in flight. Default: enough for the connection's rates at
        up to 0.5 s per request (16 to 256; 128 when a limit is off).
    :param check_template: before any lookup or send, check the template against the bot's
        approved templates (exists in that language, APPROVED, parameters match); ``False``
        for a key that cannot read the registry.
    :param fail_on_recategorized: fail, instead of warning, when Meta re-categorised the template.
    :param send_window: ``"HH:MM-HH:MM"`` in each recipient's local time (from the number's
        zones; several zones: open only when open in all; unknown: ``America/Sao_Paulo``).
        Recipients outside it are not looked up nor sent; once the others are done the task
        defers (no worker slot held) until the earliest opening among them, then sends to
        them. Their result rows say ``"waited": true`` and the count goes to the XCom
        ``waited_for_window``. ``None``: always open. (templated)
    :return: ``{"index", "results": uri, "rows", "messages", "counts", "breaker"}``: no phone number.
    """

    template_fields = (
        *BlipBatchOperator.template_fields,
        "max_failed_ratio",
        "skip_if_sent_within",
        "chunk",
        *TEMPLATE_ARGS,
        "required_columns",
        "flow_id",
        "state_id",
        "master_state",
        "variables",
        "list_name",
        "send_window",
    )
    operator_extra_links = (BlipDeliveryLink(),)  # the run's funnel on the Blip page
    step = "notify"

    def __init__(
        self,
        *,
        chunk: Any,
        template_name: str,
        language: str = "pt_BR",
        policy: str = "deterministic",
        namespace: str | None = None,
        header: dict[str, Any] | None = None,
        body: list[Any] | None = None,
        body_columns: list[str] | str | None = None,  # str: a Jinja template rendering to a list
        buttons: list[dict[str, Any]] | None = None,
        required_columns: Sequence[str] | None = None,
        flow_id: str | None = None,
        state_id: str | None = None,
        master_state: str | None = None,
        variables: dict[str, str] | None = None,
        list_name: str | None = None,
        skip_if_sent_within: timedelta | float | str | None = None,
        first_read_after: float | None = 1.0,
        min_failure_sample: int = 20,
        concurrency: int | None = None,
        check_template: bool = True,
        fail_on_recategorized: bool = False,
        send_window: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chunk = chunk
        self.send_window = send_window
        # The one seam tests replace: the clock the send window reads.
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.check_template = check_template
        self.fail_on_recategorized = fail_on_recategorized
        self.template_name = template_name
        self.language = language
        self.policy = policy
        self.namespace = namespace
        self.header = header
        self.body = body
        self.body_columns = body_columns
        self.buttons = buttons
        self.required_columns = required_columns
        self.flow_id = flow_id
        self.state_id = state_id
        self.master_state = master_state
        self.variables = variables
        self.list_name = list_name
        self.skip_if_sent_within = skip_if_sent_within
        if first_read_after is not None and first_read_after < 0:
            raise BlipConfigError(f"first_read_after must be >= 0 seconds or None, got {first_read_after!r}")
        self.first_read_after = first_read_after
        self.min_failure_sample = min_failure_sample
        self.concurrency = concurrency

    def execute(self, context: Context) -> ChunkOutcome:
        return self._run_chunk(context, after_wait=False)

    def execute_after_window(self, context: Context, event: Any = None) -> ChunkOutcome:
        """Go on after a deferral for the send window: the journal skips every finished row."""
        return self._run_chunk(context, after_wait=True)

    def _run_chunk(self, context: Context, *, after_wait: bool) -> ChunkOutcome:
        from airflow_provider_blip.utils.windows import parse_window

        window = parse_window(self.send_window)  # before anything: a bad window costs nothing
        ti = context["ti"]
        chunk_path, index = _chunk_ref(self.chunk, ti.map_index)
        # First, before any lookup: a template the registry would refuse costs nothing.
        spec = checked_spec(
            self,
            self.hook,
            spec_of(self),
            enabled=self.check_template,
            fail_on_recategorized=self.fail_on_recategorized,
        )
        layout = RunLayout.of_chunk(chunk_path)
        directory = layout.results(ti.task_id, index)
        progress = journal.load(directory)
        if progress.done or progress.in_flight or not progress.trusted:
            self.log.info(
                "Resuming: %d recipients done by earlier attempts, %d to check with Blip first%s",
                len(progress.done),
                len(progress.in_flight),
                "" if progress.trusted else " (an earlier journal is missing: every open send is checked)",
            )
        ratio = as_ratio(self.max_failed_ratio)
        breaker = Breaker(ratio, self.min_failure_sample, tripped=layout.breaker.exists())
        pipeline = self._pipeline(ti, layout, chunk_path, index, spec)
        pipeline = dataclasses.replace(pipeline, window=window, clock=self._now, after_wait=after_wait)
        writer = journal.Writer(directory)
        run = ChunkRun(self.hook, pipeline, progress, writer, breaker)
        try:
            counts = run.all(runfiles.read_jsonl(chunk_path), self.hook.config.concurrency)
        finally:
            writer.close()
            if pipeline.ledger_writer is not None:
                pipeline.ledger_writer.close()
        if breaker.tripped and not layout.breaker.exists():
            tripped = {"chunk": index, "acted": breaker.acted, "failed": breaker.failed}
            runfiles.write_json(layout.breaker, tripped)
        if run.next_open is not None:
            self._defer_for_window(index, run, window)
        if window is not None:
            self.log.info(
                "Blip notify, chunk %d: waited_for_window=%d (send_window %s)", index, run.waited, window
            )
            ti.xcom_push(key="waited_for_window", value=run.waited)
        return self._finish(index, writer.path, counts, run.failures, breaker)

    def _defer_for_window(self, index: int, run: ChunkRun, window: SendWindow | None) -> None:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        self.log.info(
            "Blip notify, chunk %d: %d recipients outside the send window %s in their local time "
            "(not looked up, not sent); deferring until %s, when the first of them opens",
            index,
            run.waiting,
            window,
            run.next_open,
        )
        # Only the wait is deferred: the sends happen back on a worker, in execute_after_window.
        self.defer(trigger=DateTimeTrigger(moment=run.next_open), method_name="execute_after_window")

    def _pipeline(
        self, ti: Any, layout: RunLayout, chunk_path: ObjectStoragePath, index: int, spec: TemplateSpec
    ) -> Pipeline:
        job = layout.directory.name
        required = self.required_columns if self.required_columns is not None else sorted(spec.columns())
        ledger, ledger_writer = self._ledger(layout, chunk_path, ti.dag_id, spec.name, index)
        return Pipeline(
            spec=spec,
            pairs=steps.context_writes(self.flow_id, self.state_id, self.master_state, self.variables),
            required=required,
            message_id=lambda account: job_message_id(
                dag_id=ti.dag_id, job=job, task_id=ti.task_id, recipient=account, template=spec.name
            ),
            add_to_list=self._list_adder(),
            first_read_after=self.first_read_after,
            ledger=ledger,
            ledger_writer=ledger_writer,
        )

    def _list_adder(self) -> Callable[[str], None] | None:
        if not self.list_name:
            return None
        return functools.partial(self.hook.add_list_member, self.list_name)

    def _ledger(
        self, layout: RunLayout, chunk_path: ObjectStoragePath, dag_id: str, template: str, index: int
    ) -> tuple[Any, Any]:
        window = _duration(self.skip_if_sent_within)
        if window is None:
            return None, None
        from airflow_provider_blip.utils.ledger import LedgerWriter, SentLedger

        root, job = str(layout.root), layout.directory.name  # the split's root: one ledger per DAG
        # Only this chunk's numbers are kept from the ledger: memory follows the chunk.
        phones = (line["phone"] for line in runfiles.read_jsonl(chunk_path) if "status" not in line)
        ledger = SentLedger.load(root, dag_id, template, window, job_key=job, candidates=phones)
        self.log.info("skip_if_sent_within: %d recipients sent this template recently", len(ledger))
        return ledger, LedgerWriter(root, dag_id, template, job, part=index)

    @cached_property
    def hook(self) -> BlipHook:
        """The task's hook, its connection pool as large as the recipients in flight."""
        hook = BlipHook(self.blip_conn_id, concurrency=self.concurrency)
        if self.concurrency is None:
            # The connection is read once; the pool is sized from its rates before first use.
            hook.config = dataclasses.replace(hook.config, concurrency=workers_for(hook.config.rates))
        return hook

    def _finish(
        self,
        index: int,
        path: ObjectStoragePath,
        counts: Counter[str],
        failures: list[dict[str, Any]],
        breaker: Breaker,
    ) -> ChunkOutcome:
        summary = dict(sorted(counts.items()))
        self.log.info("Blip notify, chunk %d: %s (results: %s)", index, summary, path)
        if failures:
            self.log.warning(
                "Blip notify, failed or unknown (first %d):\n%s", len(failures), masked_table(failures)
            )
        if breaker.tripped:
            self.log.warning(
                "Blip notify, chunk %d: the failure breaker tripped (%d of %d recipients acted on failed, "
                "more than max_failed_ratio=%g): %d recipients left not_sent",
                index,
                breaker.failed,
                breaker.acted,
                breaker.max_failed_ratio,
                counts.get(RecipientStatus.NOT_SENT.value, 0),
            )
        unknown = counts.get(RecipientStatus.SEND_UNKNOWN.value, 0)
        messages = sum(counts.get(s, 0) for s in SENT_STATUSES)
        if unknown:
            failed = sum(n for s, n in counts.items() if s in FAILED_STATUSES)
            raise BlipBatchError(
                f"notify, chunk {index}: {messages} sent, {failed} failed, {unknown} unknown (the hook's "
                f"retries ran out on 429, 5xx or no answer: Blip may or may not have those messages). "
                f"Retry the task: it resumes there and asks Blip about each unknown message before "
                f"sending it. Per-recipient results: {path}",
                summary=summary,
                failed=failed + unknown,
                total=sum(counts.values()),
            )
        return {
            "index": index,
            "results": str(path),
            "rows": sum(counts.values()),
            "messages": messages,
            "counts": summary,
            "breaker": breaker.tripped,
        }


def _duration(value: timedelta | float | str | None) -> timedelta | None:
    """Read ``skip_if_sent_within``: a timedelta or seconds; ``None`` or 0 turns the guard off."""
    if value is None or isinstance(value, timedelta):
        return value
    try:
        seconds = float(value) if not isinstance(value, bool) and value != "" else 0.0
    except ValueError:
        seconds = -1.0
    if seconds == 0 or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if seconds > 0:
        return timedelta(seconds=seconds)
    raise BlipConfigError(f"skip_if_sent_within must be a timedelta or seconds >= 0, got {value!r}")


def workers_for(rates: dict[str, float]) -> int:
    """Recipients in flight to keep every channel at its rate with up to 0.5 s per request."""
    if not rates.get("messages") or not rates.get("commands"):
        return 128  # no limit: more threads only fight over the GIL (docs/performance.md)
    return max(16, min(256, math.ceil(0.5 * (rates["messages"] + rates["commands"]))))


def _chunk_ref(chunk: Any, map_index: int | None) -> tuple[ObjectStoragePath, int]:
    """Return the chunk file and its index from a split reference or a bare URI."""
    if is_chunk_ref(chunk):
        return runfiles.storage_path(chunk["chunk"]), int(chunk.get("index", 0))
    if isinstance(chunk, str) and chunk:
        return runfiles.storage_path(chunk), max(map_index if map_index is not None else 0, 0)
    raise BlipConfigError(
        "chunk must be a reference from BlipSplitAudienceOperator or a chunk file URI, "
        f"got {type(chunk).__name__}"
    )
