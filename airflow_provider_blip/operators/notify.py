"""The notification job at scale: split an audience into chunks, then run each chunk end to end.

``BlipSplitAudienceOperator`` streams the audience once into chunk files and returns their
references for ``.expand()``. ``BlipNotifyOperator`` takes one chunk through verify → send →
move in the flow *per recipient*, many recipients at once: lookups of later recipients run
while earlier ones wait for a message slot, so the job is bounded by the plan's rates, not
by the sum of three stages. Results go to files; XCom carries references and counts.

.. seealso:: docs/operators/notify.md
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.exceptions import BlipBatchError, BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.operators import _steps as steps
from airflow_provider_blip.operators._batch import BlipBatchOperator
from airflow_provider_blip.operators._chunk import ChunkRun
from airflow_provider_blip.utils import journal, runfiles
from airflow_provider_blip.utils.audience import Recipient, iter_rows, parse_audience
from airflow_provider_blip.utils.results import (
    FAILED_STATUSES,
    SENT_STATUSES,
    RecipientStatus,
    check_failure_ratio,
    masked_table,
)
from airflow_provider_blip.utils.templates import TEMPLATE_ARGS, spec_of

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Iterator, Sequence

    from airflow.sdk import Context, ObjectStoragePath


#: Chunks per run unless ``max_chunks`` says otherwise: keeps the split's XCom (one
#: reference per chunk) far below 64 KB and well inside ``[core] max_map_length``.
DEFAULT_MAX_CHUNKS = 256


class BlipSplitAudienceOperator(BaseOperator):
    """Stream an audience into chunk files and return one reference per chunk, for ``.expand()``.

    Numbers are parsed and deduplicated across the whole audience here, once; invalid and
    duplicate rows go into their chunk with their status, so every row is reported. The
    chunk list is saved with the files: a retry or a re-run of the same DAG run reuses it,
    so each recipient keeps its chunk (its map index), hence its message id.

    .. seealso:: docs/operators/notify.md

    :param audience: rows with a phone number and template values: a list of dicts, or the
        path or URL of a CSV file. (templated)
    :param phone_column: the column holding the phone number.
    :param default_region: region for numbers written without country code. (templated)
    :param chunk_size: rows per chunk; raised when the audience would need more than
        ``max_chunks`` chunks.
    :param max_chunks: most chunks per run (default 256, never above ``[core] max_map_length``).
    :param runs_path: root of the run files, local path or URL (default
        ``$AIRFLOW_HOME/blip-runs``; use shared storage when workers run on several
        machines). (templated)
    :return: ``[{"chunk": uri, "index": i, "rows": n}, ...]``.
    """

    template_fields = ("audience", "default_region", "runs_path")
    ui_color = BlipBatchOperator.ui_color  # no Blip request here: it only reads and writes files

    def __init__(
        self,
        *,
        audience: Any,
        phone_column: str = "phone",
        default_region: str = "BR",
        chunk_size: int = 1000,
        max_chunks: int | None = None,
        runs_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size!r}")
        self.audience = audience
        self.phone_column = phone_column
        self.default_region = default_region
        self.chunk_size = chunk_size
        self.max_chunks = max_chunks
        self.runs_path = runs_path

    def execute(self, context: Context) -> list[dict[str, Any]]:
        ti = context["ti"]
        directory = runfiles.run_dir(self.runs_path, ti.dag_id, ti.run_id) / "chunks"
        manifest = directory / "manifest.json"
        if manifest.exists():
            self.log.info("Reusing the chunks already written for this run (%s)", directory)
            return list(runfiles.read_json(manifest))
        size = self._size(sum(1 for _ in iter_rows(self.audience)))
        rows = parse_audience(
            self.audience, phone_column=self.phone_column, default_region=self.default_region
        )
        chunks = [
            {"chunk": str(path), "index": index, "rows": count}
            for index, path, count in _write_chunks(directory, rows, size)
        ]
        runfiles.write_json(manifest, chunks)  # last: no manifest means no finished split
        self.log.info(
            "Blip split: %d rows into %d chunks of up to %d",
            sum(c["rows"] for c in chunks),
            len(chunks),
            size,
        )
        return chunks

    def _size(self, total: int) -> int:
        from airflow.sdk import conf

        limit = conf.getint("core", "max_map_length", fallback=1024)
        most = min(self.max_chunks or DEFAULT_MAX_CHUNKS, limit)
        return max(self.chunk_size, math.ceil(total / most))


def _write_chunks(
    directory: ObjectStoragePath, rows: Iterator[Any], size: int
) -> Iterator[tuple[int, ObjectStoragePath, int]]:
    """Write consecutive runs of ``size`` rows to numbered files; yield (index, path, rows)."""
    index = 0
    while True:
        batch = [_chunk_line(item) for _, item in zip(range(size), rows, strict=False)]
        if not batch:
            return
        path = directory / f"{index:05d}.jsonl"
        yield index, path, runfiles.write_jsonl(path, batch)
        index += 1


def _chunk_line(item: Any) -> dict[str, Any]:
    if isinstance(item, Recipient):
        return {"row": item.row, "phone": item.phone, "values": item.values}
    return {"row": item.row, "phone": item.raw_phone, "status": item.status, "reason": item.reason}


class BlipNotifyOperator(BlipBatchOperator):
    """Verify, send a template and move in the flow every recipient of one chunk, steps overlapping.

    Each recipient goes through lookup → template → context on its own; many go at once, each
    request paced by the connection's per-channel rates, so the messages channel stays busy
    at its rate. Progress is journaled per try: a retry (or a cleared task) skips finished
    recipients and asks Blip about any message that may have left, so nothing is sent twice
    and nothing is lost. A send whose outcome stays unknown after the hook's retries fails
    the task (after finishing the rest), so that its retry resolves it.

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
    :param concurrency: recipients in flight. Default: enough for the connection's rates at
        up to 0.5 s per request (16 to 256; 128 when a limit is off).
    :return: ``{"index", "results": uri, "rows", "messages", "counts"}``: no phone number.
    """

    template_fields = (
        *BlipBatchOperator.template_fields,
        "chunk",
        *TEMPLATE_ARGS,
        "required_columns",
        "flow_id",
        "state_id",
        "master_state",
        "variables",
    )
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
        body_columns: list[str] | None = None,
        buttons: list[dict[str, Any]] | None = None,
        required_columns: Sequence[str] | None = None,
        flow_id: str | None = None,
        state_id: str | None = None,
        master_state: str | None = None,
        variables: dict[str, str] | None = None,
        concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chunk = chunk
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
        self.concurrency = concurrency

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        spec = spec_of(self)
        pairs = steps.context_writes(self.flow_id, self.state_id, self.master_state, self.variables)
        chunk_path, index = _chunk_ref(self.chunk, ti.map_index)
        directory = chunk_path.parent.parent / "results" / runfiles.safe_segment(ti.task_id) / f"{index:05d}"
        progress = journal.load(directory, ti.try_number)
        if progress.done or progress.in_flight or not progress.trusted:
            self.log.info(
                "Resuming: %d recipients done by earlier tries, %d to check with Blip first%s",
                len(progress.done),
                len(progress.in_flight),
                "" if progress.trusted else " (an earlier journal is missing: every open send is checked)",
            )
        writer = journal.Writer(directory, ti.try_number)
        run = ChunkRun(self.hook, spec, pairs, self.required_columns, progress, writer, ti)
        try:
            counts = run.all(runfiles.read_jsonl(chunk_path), self.hook.config.concurrency)
        finally:
            writer.close()
        return self._finish(index, writer.path, counts, run.failures)

    @cached_property
    def hook(self) -> BlipHook:
        """The task's hook, its connection pool as large as the recipients in flight."""
        concurrency = self.concurrency or workers_for(BlipHook(self.blip_conn_id).config.rates)
        return BlipHook(self.blip_conn_id, concurrency=concurrency)

    def _finish(
        self, index: int, path: ObjectStoragePath, counts: Counter[str], failures: list[dict[str, Any]]
    ) -> dict[str, Any]:
        summary = dict(sorted(counts.items()))
        self.log.info("Blip notify, chunk %d: %s (results: %s)", index, summary, path)
        if failures:
            self.log.warning(
                "Blip notify, failed or unknown (first %d):\n%s", len(failures), masked_table(failures)
            )
        unknown = counts.get(RecipientStatus.UNKNOWN.value, 0)
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
        check_failure_ratio(summary, max_failed_ratio=self.max_failed_ratio, step=f"notify, chunk {index}")
        return {
            "index": index,
            "results": str(path),
            "rows": sum(counts.values()),
            "messages": messages,
            "counts": summary,
        }


def workers_for(rates: dict[str, float]) -> int:
    """Recipients in flight to keep every channel at its rate with up to 0.5 s per request."""
    if not rates.get("messages") or not rates.get("commands"):
        return 128  # no limit: more threads only fight over the GIL (docs/performance.md)
    return max(16, min(256, math.ceil(0.5 * (rates["messages"] + rates["commands"]))))


def _chunk_ref(chunk: Any, map_index: int | None) -> tuple[ObjectStoragePath, int]:
    """Return the chunk file and its index from a split reference or a bare URI."""
    if isinstance(chunk, dict) and "chunk" in chunk:
        return runfiles.storage_path(chunk["chunk"]), int(chunk.get("index", 0))
    if isinstance(chunk, str) and chunk:
        return runfiles.storage_path(chunk), max(map_index if map_index is not None else 0, 0)
    raise BlipConfigError(
        "chunk must be a reference from BlipSplitAudienceOperator or a chunk file URI, "
        f"got {type(chunk).__name__}"
    )
