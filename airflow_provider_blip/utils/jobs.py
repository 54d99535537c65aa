"""The identity of a notification job, and where its files live (no I/O beyond building paths).

A job is *what* is sent to *whom*, not the Airflow run that happens to send it. Its key is
the DAG plus its logical date (the data interval's start when there is no logical date), or
an explicit ``campaign_key`` the user gives. Every way of running the same job again (a task
retry, a cleared task, ``airflow tasks test``, ``airflow dags test`` with the same logical
date, a new run for the same logical date) finds the same key, hence the same chunk
manifest, the same journals and the same message ids: it resumes instead of sending twice.

A run with neither a logical date nor a data interval (a manual trigger without a logical
date, Airflow 3's default) is a new job each time, keyed by its run id.

Layout under the runs root (``runs_path``)::

    {dag_id}/jobs/{job}/chunks/manifest.json               the chunk list, reused by every re-run
    {dag_id}/jobs/{job}/chunks/{index:05d}.jsonl           audience rows of one chunk
    {dag_id}/jobs/{job}/results/{task_id}/{index:05d}/     one chunk task's journals (utils/journal.py)
    {dag_id}/jobs/{job}/breaker.json                       set when the failure breaker tripped
    {dag_id}/ledger/...                                    the cross-job guard (utils/ledger.py)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils import runfiles

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    from airflow.sdk import ObjectStoragePath


def job_key(context: Mapping[str, Any], campaign_key: str | None = None) -> str:
    """Return the job key of the running task: the same for every re-run of the same job.

    :param context: the task context (reads ``ti``, ``logical_date``, ``data_interval_start``).
    :param campaign_key: the user's own key; it wins when given.
    """
    if campaign_key:
        return "key-" + runfiles.safe_segment(str(campaign_key))
    when = context.get("logical_date") or context.get("data_interval_start")
    if when is not None:
        # ISO text in UTC, made one path segment: readable in a listing, one spelling per instant.
        stamp = when.in_timezone("UTC") if hasattr(when, "in_timezone") else when
        return "date-" + runfiles.safe_segment(stamp.isoformat())
    return "run-" + runfiles.safe_segment(context["ti"].run_id)


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Every path of one job's run files, in one place.

    :param directory: the job's own directory (``{root}/{dag_id}/jobs/{job}``).
    """

    directory: ObjectStoragePath

    @classmethod
    def for_job(cls, root: str | os.PathLike[str] | None, dag_id: str, job: str) -> RunLayout:
        """Return the layout of job ``job`` of DAG ``dag_id`` under ``root`` (default root if ``None``)."""
        base = runfiles.storage_path(root or runfiles.default_root())
        return cls(base / runfiles.safe_segment(dag_id) / "jobs" / job)

    @classmethod
    def of_chunk(cls, chunk_path: ObjectStoragePath) -> RunLayout:
        """Return the layout a chunk file belongs to (``.../jobs/{job}/chunks/{index}.jsonl``)."""
        return cls(chunk_path.parent.parent)

    @property
    def root(self) -> ObjectStoragePath:
        """The runs root this job lives under (the cross-job ledger sits there too)."""
        return self.directory.parent.parent.parent

    @property
    def chunks(self) -> ObjectStoragePath:
        """Where the split writes the chunk files."""
        return self.directory / "chunks"

    @property
    def manifest(self) -> ObjectStoragePath:
        """The chunk list: its presence means the split finished."""
        return self.chunks / "manifest.json"

    @property
    def breaker(self) -> ObjectStoragePath:
        """Written when a chunk's failure breaker tripped: later chunks send nothing."""
        return self.directory / "breaker.json"

    def chunk(self, index: int) -> ObjectStoragePath:
        """One chunk's audience rows."""
        return self.chunks / f"{index:05d}.jsonl"

    def results(self, task_id: str, index: int) -> ObjectStoragePath:
        """One chunk task's journal directory."""
        return self.directory / "results" / runfiles.safe_segment(task_id) / f"{index:05d}"
