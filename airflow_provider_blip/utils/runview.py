"""Read a job's run files into its delivery funnel: what the page and the report's HTML show.

Only reads what the job already writes (``utils/jobs.py`` has the layout): the chunk
manifest and files from the split, each chunk task's journals, the delivery wait's hand-off
(``delivery-{attempt}.deferred.jsonl``) and its final statuses (``delivery-{attempt}.jsonl``).
Nothing is written and nothing is kept. The funnel over time comes from those files' own
times: after the sends (the journal, with the notify task's first status read), when the
wait deferred (the hand-off) and when delivery settled.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils.funnel import (
    FailedRecipient,
    Funnel,
    Stage,
    failed_recipient,
    rank,
    stage_of,
    table_key,
)
from airflow_provider_blip.utils.jobs import RunLayout
from airflow_provider_blip.utils.runfiles import read_json, read_jsonl, safe_segment, storage_path

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping

    from airflow.sdk import ObjectStoragePath

#: Rows of the failed-recipients table, at most (the rest are counted, not listed).
TABLE_ROWS = 200

_FAILED_STAGES = frozenset({Stage.FAILED, Stage.NO_REPORT, Stage.NOT_SENT})


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The job's funnel as the files stood at one moment (seconds since the epoch)."""

    at: float
    label: str
    funnel: Funnel


@dataclasses.dataclass(frozen=True)
class ChunkView:
    """One chunk: its counts, the phase its files show, and its funnel at each file's time."""

    index: int
    phase: str  # "queued", "sending", "waiting" or "done"
    funnel: Funnel
    history: tuple[Snapshot, ...]


@dataclasses.dataclass(frozen=True)
class JobView:
    """Everything the page shows about one job, numbers masked."""

    dag_id: str
    job: str
    funnel: Funnel
    chunks: tuple[ChunkView, ...]
    reasons: tuple[tuple[str, str, int], ...]  # (status, masked reason, recipients)
    failed: tuple[FailedRecipient, ...]
    failed_total: int
    history: tuple[Snapshot, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: counts, masked rows and times only."""
        return {
            "dag_id": self.dag_id,
            "job": self.job,
            "funnel": self.funnel.as_dict(),
            "chunks": [
                {"index": c.index, "phase": c.phase, "funnel": c.funnel.as_dict()} for c in self.chunks
            ],
            "reasons": [{"status": s, "reason": r, "count": n} for s, r, n in self.reasons],
            "failed": [dataclasses.asdict(f) for f in self.failed],
            "failed_total": self.failed_total,
            "history": [{"at": s.at, "label": s.label, "funnel": s.funnel.as_dict()} for s in self.history],
        }


def _mtime(path: ObjectStoragePath) -> float:
    try:
        stat = path.stat()
    except (OSError, ValueError):
        return 0.0
    value: Any = getattr(stat, "st_mtime", None)
    if value is None and hasattr(stat, "get"):
        value = stat.get("mtime") or stat.get("LastModified")
    if isinstance(value, datetime):  # an object store's time
        return value.timestamp()
    return float(value or 0.0)


def _rows(path: ObjectStoragePath) -> dict[int, dict[str, Any]]:
    return {int(r["row"]): r for r in read_jsonl(path) if "row" in r}


def _rows_in_order(path: ObjectStoragePath) -> list[tuple[int, dict[str, Any]]]:
    return [(int(r["row"]), r) for r in read_jsonl(path) if "row" in r]


def _journal(directory: ObjectStoragePath, names: list[str]) -> dict[int, dict[str, Any]]:
    """Every attempt's result lines, oldest attempt first, later lines winning (as the journal reads)."""
    done: dict[int, dict[str, Any]] = {}
    for name in names:
        if name.endswith(".jsonl") and not name.startswith("delivery-"):
            for row, line in _rows_in_order(directory / name):
                # An intent alone is a message in flight: counted as sent until its result comes.
                if "intent" not in line or row not in done:
                    done[row] = line
    return done


def _with_handoff(rows: dict[int, dict[str, Any]], handoff: dict[int, dict[str, Any]]) -> dict[int, Any]:
    # The hand-off carries what the wait had read when it deferred, on top of the journal's rows.
    merged = dict(rows)
    for row, line in handoff.items():
        if row in merged and "delivery" in line:
            merged[row] = {**merged[row], "delivery": line["delivery"]}
    return merged


def _chunk_funnel(rows: Mapping[int, Mapping[str, Any]], total_rows: int) -> Funnel:
    stages = [stage_of(r) for r in rows.values()]
    return Funnel.of(stages) + Funnel(queued=max(0, total_rows - len(stages)))


def read_chunk(
    index: int, total_rows: int, directory: ObjectStoragePath | None
) -> tuple[ChunkView, dict[int, dict[str, Any]]]:
    """Read one chunk task's directory; return its view and its latest rows (unmasked, kept here)."""
    names = (
        sorted(p.name for p in directory.iterdir()) if directory is not None and directory.exists() else []
    )
    if directory is None or not names:
        queued = Funnel(queued=total_rows)
        return ChunkView(index, "queued", queued, ()), {}
    history: list[Snapshot] = []
    journals = [n for n in names if n.endswith(".jsonl") and not n.startswith("delivery-")]
    rows = _journal(directory, names)
    if journals:
        at = _mtime(directory / journals[-1])
        history.append(Snapshot(at, "sent", _chunk_funnel(rows, total_rows)))
    phase = "sending" if len(rows) < total_rows else "waiting"
    handoffs = [n for n in names if n.startswith("delivery-") and n.endswith(".deferred.jsonl")]
    if handoffs:
        rows = _with_handoff(rows, _rows(directory / handoffs[-1]))
        history.append(
            Snapshot(_mtime(directory / handoffs[-1]), "deferred", _chunk_funnel(rows, total_rows))
        )
    finals = [n for n in names if n.startswith("delivery-") and not n.endswith(".deferred.jsonl")]
    if finals:
        rows = _rows(directory / finals[-1])
        phase = "done"
        history.append(Snapshot(_mtime(directory / finals[-1]), "delivered", _chunk_funnel(rows, total_rows)))
    return ChunkView(index, phase, _chunk_funnel(rows, total_rows), tuple(history)), rows


def job_history(chunks: Iterable[ChunkView]) -> tuple[Snapshot, ...]:
    """Return the job's funnel at each chunk file's time, every chunk counted as it stood then."""
    chunks = list(chunks)
    times = sorted({(s.at, s.label) for c in chunks for s in c.history})
    history = []
    for at, label in times:
        total = Funnel()
        for chunk in chunks:
            past = [s for s in chunk.history if s.at <= at]
            queued = Funnel(queued=chunk.funnel.total)
            total = total + (past[-1].funnel if past else queued)
        history.append(Snapshot(at, label, total))
    return tuple(history)


def _task_dirs(layout: RunLayout) -> list[ObjectStoragePath]:
    results = layout.directory / "results"
    return (
        sorted((p for p in results.iterdir() if p.is_dir()), key=lambda p: p.name) if results.exists() else []
    )


def read_job(layout: RunLayout, dag_id: str, task_id: str | None = None) -> JobView:
    """Read one job's files into its view.

    :param layout: the job's layout (``RunLayout.for_job``).
    :param dag_id: the DAG, shown on the page.
    :param task_id: the chunk task whose results to read; default the first (by name) with any.
    """
    manifest = read_json(layout.manifest) if layout.manifest.exists() else []
    tasks = _task_dirs(layout)
    chosen = next((t for t in tasks if t.name == safe_segment(task_id)), None) if task_id else None
    directory = chosen or (tasks[0] if tasks else None)
    chunks: list[ChunkView] = []
    recipients: list[tuple[Stage, FailedRecipient]] = []
    reasons: dict[tuple[Stage, str, str], int] = {}
    for entry in manifest:
        index = int(entry["index"])
        chunk_dir = directory / f"{index:05d}" if directory is not None else None
        view, rows = read_chunk(index, int(entry.get("rows", 0)), chunk_dir)
        chunks.append(view)
        for row in rows.values():
            stage = stage_of(row)
            if stage in _FAILED_STAGES:
                failed = failed_recipient(index, row)
                recipients.append((stage, failed))
                key = (stage, failed.status, failed.reason)
                reasons[key] = reasons.get(key, 0) + 1
    recipients.sort(key=lambda item: table_key(*item))
    total = Funnel()
    for chunk in chunks:
        total = total + chunk.funnel
    return JobView(
        dag_id=dag_id,
        job=layout.directory.name,
        funnel=total,
        chunks=tuple(chunks),
        reasons=tuple(
            (status, reason, n) for (_, status, reason), n in sorted(reasons.items(), key=_reason_key)
        ),
        failed=tuple(f for _, f in recipients[:TABLE_ROWS]),
        failed_total=len(recipients),
        history=job_history(chunks),
    )


def _reason_key(item: tuple[tuple[Stage, str, str], int]) -> tuple[int, int, int, str, str]:
    # Failures first (as in the table), then the most frequent reason.
    (stage, status, reason), count = item
    return (*rank(stage, status), -count, status, reason)


def job_of_delivery(delivery_uri: str) -> RunLayout:
    """Return the layout a delivery file belongs to (``.../jobs/{job}/results/{task}/{index}/...``)."""
    return RunLayout(storage_path(delivery_uri).parent.parent.parent.parent)


def list_jobs(root: str | os.PathLike[str] | None, dag_id: str) -> list[str]:
    """Return the job keys of a DAG under the runs root, newest files first."""
    jobs = RunLayout.for_job(root, dag_id, "_").directory.parent
    if not jobs.exists():
        return []
    found = [p for p in jobs.iterdir() if p.is_dir()]
    return [p.name for p in sorted(found, key=lambda p: -_mtime(p / "chunks" / "manifest.json"))]


def list_dags(root: str | os.PathLike[str] | None) -> list[str]:
    """Return the DAG directories under the runs root that hold jobs."""
    base = RunLayout.for_job(root, "_", "_").root
    if not base.exists():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / "jobs").exists())
