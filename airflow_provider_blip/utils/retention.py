"""Retention of run files: a job's files go once nothing in them changed for ``retention``.

The run files (see :mod:`airflow_provider_blip.utils.runfiles`) hold phone numbers, names
and template values; they are needed while a job may still be resumed, not forever. Under
``{root}/{dag_id}`` every directory is one job's (``{run_id}/``, or ``jobs/{job_key}/``),
except ``ledger/``: the cross-job guard's hashes, which :mod:`airflow_provider_blip.utils.ledger`
prunes by its own window. A job is judged by its newest file: a job still running, or
resumed yesterday, is kept whatever its age.

Only what lies under the root is ever removed, and symbolic links are never followed: a
link is judged and removed as the link itself. Object stores (``s3://``...) have no links;
an object whose modification time the store does not give keeps its whole job.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.runfiles import default_root, local_path, safe_segment, storage_path

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=7)

#: The folder of the job directories in the ``{dag_id}/jobs/{job_key}`` layout.
JOBS_DIR = "jobs"
#: The cross-job guard's folder: never removed here (its window is not the retention).
LEDGER_DIR = "ledger"


@dataclasses.dataclass(frozen=True)
class JobFiles:
    """One job's directory and when anything in it last changed.

    :param path: the directory, as a local path or a URL.
    :param newest: the newest modification time in it (``None``: the store did not say).
    :param files: how many files (and links) it holds.
    """

    path: str
    newest: datetime | None
    files: int


@dataclasses.dataclass(frozen=True)
class CleanupResult:
    """What a cleanup did, in counts only (no path, no content)."""

    jobs_removed: int = 0
    files_removed: int = 0
    jobs_kept: int = 0
    jobs_failed: int = 0

    def __add__(self, other: CleanupResult) -> CleanupResult:
        return CleanupResult(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self))
        )

    def counts(self) -> dict[str, int]:
        """Return the counts as a plain dict, for XCom."""
        return dataclasses.asdict(self)


def check_retention(value: object, *, setting: str = "retention") -> timedelta:
    """Return ``value`` as a positive ``timedelta``: a ``timedelta`` or a number of days.

    A number may come as text (a rendered template), e.g. ``"7"`` or ``"0.5"``.
    """
    days: float | None = None
    if isinstance(value, timedelta):
        days = value / timedelta(days=1)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        days = float(value)
    elif isinstance(value, str):
        try:
            days = float(value.strip())
        except ValueError:
            days = None
    if days is None or not math.isfinite(days) or days <= 0:
        raise BlipConfigError(
            f"{setting} must be a positive duration: a timedelta or a number of days, got {value!r}"
        )
    return value if isinstance(value, timedelta) else timedelta(days=days)


def expired(jobs: Iterable[JobFiles], *, retention: timedelta, now: datetime) -> list[JobFiles]:
    """Return the jobs whose newest file is older than ``retention`` at ``now`` (no I/O).

    A job whose age is unknown is never expired.
    """
    cutoff = now - retention
    return [job for job in jobs if job.newest is not None and job.newest < cutoff]


def list_jobs(root: str | os.PathLike[str] | None, dag_id: str) -> list[JobFiles]:
    """List the job directories of one DAG under the runs root, in both layouts."""
    return list(_tree(root).jobs(safe_segment(dag_id)))


def clean_runs(
    root: str | os.PathLike[str] | None = None,
    *,
    dag_ids: Sequence[str],
    retention: timedelta = DEFAULT_RETENTION,
    now: datetime | None = None,
) -> CleanupResult:
    """Remove the run files of the jobs of ``dag_ids`` that nothing touched for ``retention``.

    :param root: the runs root, local path or URL (default: as the operators use).
    :param dag_ids: the DAGs whose jobs are judged; other DAGs' files are left alone.
    :param retention: how long a job's files stay after their last change.
    :param now: the time to judge from (default: now).
    :return: how many jobs and files went, how many jobs stayed, how many could not be removed.
    """
    retention = check_retention(retention)
    moment = now or datetime.now(UTC)
    tree = _tree(root)
    total = CleanupResult()
    for dag_id in dag_ids:
        jobs = list(tree.jobs(safe_segment(dag_id)))
        old = expired(jobs, retention=retention, now=moment)
        total += CleanupResult(jobs_kept=len(jobs) - len(old))
        for job in old:
            try:
                tree.remove(job)
            except OSError as exc:
                # e.g. a file of another user: the rest goes on. Paths hold ids, not numbers.
                log.warning("Could not remove the run files of %s: %s", job.path, exc)
                total += CleanupResult(jobs_failed=1)
            else:
                total += CleanupResult(jobs_removed=1, files_removed=job.files)
    return total


def _tree(root: str | os.PathLike[str] | None) -> _LocalTree | _ObjectTree:
    base = storage_path(root or default_root())
    local = local_path(base)
    return _LocalTree(local) if local is not None else _ObjectTree(base)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class _LocalTree:
    """A runs root on a local disk: walked with ``lstat``, so no link is ever followed."""

    def __init__(self, root: str) -> None:
        # The root itself may be a link (a mount moved elsewhere); nothing below it is followed.
        self.root = os.path.realpath(root)

    def jobs(self, dag_dir: str) -> Iterator[JobFiles]:
        base = os.path.join(self.root, dag_dir)
        for name, path in _subdirs(base):
            if name == LEDGER_DIR:
                continue
            if name == JOBS_DIR:
                yield from (self._job(job) for _, job in _subdirs(path))
            else:
                yield self._job(path)

    def _job(self, path: str) -> JobFiles:
        newest = os.lstat(path).st_mtime
        files = 0
        for entry in _walk(path):
            info = entry.stat(follow_symlinks=False)
            newest = max(newest, info.st_mtime)
            files += not entry.is_dir(follow_symlinks=False)
        return JobFiles(path=path, newest=_utc(newest), files=files)

    def remove(self, job: JobFiles) -> None:
        if not _inside(self.root, job.path):
            raise OSError(f"refusing to remove {job.path}: not under the runs root {self.root}")
        # rmtree refuses a link and never descends through one (fd-based on Linux).
        shutil.rmtree(job.path)


def _subdirs(path: str) -> Iterator[tuple[str, str]]:
    """Yield the real (not linked) subdirectories of ``path``; nothing if it is not one."""
    if not os.path.isdir(path) or os.path.islink(path):
        return
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield entry.name, entry.path


def _walk(path: str) -> Iterator[os.DirEntry[str]]:
    with os.scandir(path) as listing:
        entries = list(listing)  # closed before going down: one open directory at a time
    for entry in entries:
        yield entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path)


def _inside(root: str, path: str) -> bool:
    """Tell whether ``path`` is a real directory at least two levels under ``root``."""
    parent = os.path.realpath(os.path.dirname(path))
    return (
        parent != root
        and os.path.commonpath([root, parent]) == root
        and os.path.isdir(path)
        and not os.path.islink(path)
    )


class _ObjectTree:
    """A runs root on an object store, through fsspec (no links, modification times vary)."""

    def __init__(self, root: ObjectStoragePath) -> None:
        self.fs = root.fs
        self.root = str(root.path).rstrip("/")

    def jobs(self, dag_dir: str) -> Iterator[JobFiles]:
        for name, path in self._subdirs(f"{self.root}/{dag_dir}"):
            if name == LEDGER_DIR:
                continue
            if name == JOBS_DIR:
                yield from (self._job(job) for _, job in self._subdirs(path))
            else:
                yield self._job(path)

    def _subdirs(self, path: str) -> Iterator[tuple[str, str]]:
        if not self.fs.isdir(path):
            return
        for info in self.fs.ls(path, detail=True):
            if info.get("type") == "directory":
                name = str(info["name"]).rstrip("/")
                yield name.rsplit("/", 1)[-1], name

    def _job(self, path: str) -> JobFiles:
        found = self.fs.find(path, withdirs=False, detail=True)
        times = [_modified(info) for info in found.values()]
        known = [t for t in times if t is not None]
        newest = max(known) if known and len(known) == len(times) else None
        return JobFiles(path=path, newest=newest, files=len(found))

    def remove(self, job: JobFiles) -> None:
        if not job.path.startswith(self.root + "/"):
            raise OSError(f"refusing to remove {job.path}: not under the runs root {self.root}")
        self.fs.rm(job.path, recursive=True)


# The keys under which fsspec stores give a modification time: local and sftp "mtime",
# s3fs "LastModified", gcsfs "updated", adlfs "last_modified", memory "created".
_TIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


def _modified(info: dict[str, Any]) -> datetime | None:
    """Return the modification time of an fsspec ``info`` entry, if the store gives one."""
    for key in _TIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _utc(float(value))
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
