"""Where a run's per-recipient files live, and how they are written and read back.

A big audience must not travel through XCom: the split step writes chunk files, each chunk
task writes its results next to them, and XCom carries only references and counts. Files go
through Airflow's ``ObjectStoragePath``, so the root can be local (the default) or shared
storage (``s3://...``, ``gs://...``) when workers run on several machines.

Layout under the root::

    {dag_id}/{run_id}/chunks/{index:05d}.jsonl             audience rows of one chunk
    {dag_id}/{run_id}/chunks/manifest.json                 the chunk list (reused on retry)
    {dag_id}/{run_id}/results/{task_id}/{index:05d}/try-{n}.jsonl   one file per task try

Files are JSON Lines. A worker killed mid-write leaves at most one cut line at the end; the
reader drops it (that row's outcome is then unknown, and the retry checks it with Blip).
These files hold phone numbers: put the root where personal data may be kept. On a local
disk every file written here is owner-only (``0o600``) and every directory created here
``0o700``, whatever the umask; object stores have no modes (their access rules apply).
"""

from __future__ import annotations

import json
import os
import re
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow.sdk import ObjectStoragePath

#: Environment variable that sets the default root (else ``$AIRFLOW_HOME/blip-runs``).
ROOT_ENV = "AIRFLOW_PROVIDER_BLIP_RUNS_PATH"

#: Modes of what this module writes on a local disk: the files hold phone numbers.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def default_root() -> str:
    """Return the default root: ``$AIRFLOW_PROVIDER_BLIP_RUNS_PATH``, else under ``AIRFLOW_HOME``."""
    explicit = os.environ.get(ROOT_ENV)
    if explicit:
        return explicit
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(home, "blip-runs")


def storage_path(uri: str | os.PathLike[str]) -> ObjectStoragePath:
    """Return an ``ObjectStoragePath`` for a local path or a URL."""
    from airflow.sdk import ObjectStoragePath  # not at DAG parse time

    text = os.fspath(uri)
    return ObjectStoragePath(text if "://" in text else "file://" + os.path.abspath(text))


def safe_segment(value: str) -> str:
    """Make a run id or task id usable as one path segment on any store (``:`` and ``+`` go)."""
    return _UNSAFE.sub("_", value).strip("._") or "_"


def run_dir(root: str | os.PathLike[str] | None, dag_id: str, run_id: str) -> ObjectStoragePath:
    """Return the directory of one DAG run's files."""
    return storage_path(root or default_root()) / safe_segment(dag_id) / safe_segment(run_id)


def local_path(path: ObjectStoragePath) -> str | None:
    """Return the OS path of a ``file://`` path, ``None`` for an object store."""
    return str(path.path) if path.protocol in ("", "file", "local") else None


def make_dirs(directory: ObjectStoragePath) -> None:
    """Create ``directory`` and its missing parents; on a local disk those it creates are ``0o700``.

    Directories that already exist keep their mode: a root shared with a group on purpose
    stays so.
    """
    local = local_path(directory)
    if local is None:
        directory.mkdir(parents=True, exist_ok=True)
        return
    missing = []
    current = os.path.abspath(local)
    while not os.path.isdir(current) and os.path.dirname(current) != current:
        missing.append(current)
        current = os.path.dirname(current)
    for new in reversed(missing):
        try:
            os.mkdir(new, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another task made it first (and set its mode)
        os.chmod(new, PRIVATE_DIR_MODE)  # mkdir's mode goes through the umask; chmod does not


def open_private(path: ObjectStoragePath, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Open a run file for writing (``w``, ``a``, ``x``, binary or text), creating its directory.

    On a local disk the file is opened by the OS, created ``0o600`` (its mode narrowed if it
    existed) before the first byte goes in; elsewhere it is the store's file object.
    """
    make_dirs(path.parent)
    local = local_path(path)
    if local is None:
        return path.open(mode, **kwargs)
    flags = os.O_CREAT | (os.O_RDWR if "+" in mode else os.O_WRONLY)
    flags |= {"w": os.O_TRUNC, "a": os.O_APPEND, "x": os.O_EXCL}[mode.strip("bt+")]
    descriptor = os.open(local, flags, PRIVATE_FILE_MODE)
    try:
        os.chmod(local, PRIVATE_FILE_MODE)  # an existing file keeps its mode through open()
        return os.fdopen(descriptor, mode, **kwargs)
    except BaseException:
        os.close(descriptor)
        raise


def write_jsonl(path: ObjectStoragePath, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines (streaming) and return how many were written."""
    count = 0
    with open_private(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(dumps(row) + "\n")
            count += 1
    return count


def read_jsonl(path: ObjectStoragePath) -> Iterator[dict[str, Any]]:
    """Yield the rows of a JSON Lines file, dropping a last line cut by a killed writer."""
    with path.open("r", encoding="utf-8") as source:
        for line in source:
            if not line.endswith("\n"):
                return  # cut mid-write: never acted upon as a whole record
            yield json.loads(line)


def dumps(row: dict[str, Any]) -> str:
    """One compact JSON line (no spaces, UTF-8 kept readable)."""
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


def read_json(path: ObjectStoragePath) -> Any:
    """Read a small JSON document (a manifest)."""
    with path.open("r", encoding="utf-8") as source:
        return json.load(source)


def write_json(path: ObjectStoragePath, document: Any) -> None:
    """Write a small JSON document, replacing the file."""
    with open_private(path, "w", encoding="utf-8") as out:
        json.dump(document, out)
