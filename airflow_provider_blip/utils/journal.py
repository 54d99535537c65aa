"""A chunk task's journal: what each attempt did, so the next one resumes without losing or repeating.

Every attempt at a chunk (an Airflow try, a cleared task, ``airflow tasks test``, a new run
of the same job: whatever runs it) writes a file of its own, ``{attempt}.jsonl``, named by
its start time, process and a random part, so no attempt ever truncates another's lines.
Before it, the attempt writes a marker ``{attempt}.start``. Lines are flushed one by one:

- an *intent* line ``{"row", "intent": "send", "account", "message_id"}`` just before a
  message is sent: if the worker dies after it, the next attempt asks Blip about that id;
- a *result* line (a result row with its ``status``) once the recipient is done.

An attempt reads every earlier file in the directory, in start order, whatever its try
number. A row with a result is done and costs no request; a row with only an intent is
checked with Blip before sending; a row with neither was never sent, **if** every earlier
attempt's file could be read. A marker without its file (the attempt ran on another
machine with local files, or on an object store that uploads only on close) makes the
journal *untrusted*: every unfinished row is then checked with Blip before sending. Either
way nothing is sent twice; the journal only saves requests.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils.results import RecipientStatus
from airflow_provider_blip.utils.runfiles import dumps, open_private, read_jsonl

SEND_UNKNOWN = RecipientStatus.SEND_UNKNOWN.value

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO

    from airflow.sdk import ObjectStoragePath


@dataclasses.dataclass
class Progress:
    """What earlier tries left: finished rows, rows caught mid-send, and whether to trust gaps."""

    done: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    in_flight: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    trusted: bool = True

    def must_check(self, row: int) -> bool:
        """Tell whether row's message may already be at Blip (so ask before sending)."""
        return row in self.in_flight or not self.trusted


def attempt_name() -> str:
    """Return a new attempt's name: sorts by start time, unique across processes and machines."""
    import os
    import secrets
    import time

    return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}"


def load(directory: ObjectStoragePath) -> Progress:
    """Read every attempt's journal in ``directory``, oldest first; later lines win."""
    progress = Progress()
    if not directory.exists():
        return progress
    names = sorted(p.name for p in directory.iterdir())
    for marker in (n for n in names if n.endswith(".start")):
        path = directory / (marker.removesuffix(".start") + ".jsonl")
        if not path.exists():
            progress.trusted = False
            continue
        for line in read_jsonl(path):
            row = int(line["row"])
            if "intent" in line:
                progress.in_flight[row] = line
            else:
                progress.done[row] = line
                progress.in_flight.pop(row, None)
    # A result marked unknown (send outcome ambiguous) is not done: ask Blip this time.
    for row in [r for r, line in progress.done.items() if line.get("status") == SEND_UNKNOWN]:
        progress.in_flight[row] = progress.done.pop(row)
    return progress


class Writer:
    """Appends lines to this attempt's journal, one flushed line at a time (thread-safe by lock)."""

    def __init__(self, directory: ObjectStoragePath) -> None:
        import threading

        name = attempt_name()
        # Owner-only on a local disk: the lines hold phone numbers and accounts.
        with open_private(directory / f"{name}.start", "w", encoding="utf-8") as marker:
            marker.write("{}\n")  # closed at once: on an object store it is uploaded now
        self.path = directory / f"{name}.jsonl"
        self._out: IO[Any] = open_private(self.path, "w", encoding="utf-8")
        self._lock = threading.Lock()

    def intent(self, row: int, account: str, message_id: str) -> None:
        """Record that a message is about to be sent (before the request leaves)."""
        self._write({"row": row, "intent": "send", "account": account, "message_id": message_id})

    def result(self, record: dict[str, Any]) -> None:
        """Record a recipient's final result row."""
        self._write(record)

    def _write(self, line: dict[str, Any]) -> None:
        text = dumps(line) + "\n"
        with self._lock:
            self._out.write(text)
            self._out.flush()  # reaches the OS before the request: survives a killed worker

    def close(self) -> None:
        """Close (on an object store, this is when the file is uploaded)."""
        with self._lock:
            self._out.close()


def read_results(path: ObjectStoragePath) -> Iterator[dict[str, Any]]:
    """Yield the result rows of a finished try's file (its intent lines left out)."""
    return (line for line in read_jsonl(path) if "intent" not in line)
