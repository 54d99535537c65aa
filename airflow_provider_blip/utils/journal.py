"""A chunk task's journal: what each try did, so the next try resumes without losing or repeating.

Each try appends to its own file (``try-{n}.jsonl``), flushed line by line:

- an *intent* line ``{"row", "intent": "send", "account", "message_id"}`` just before a
  message is sent: if the worker dies after it, the next try asks Blip about that id;
- a *result* line (a result row with its ``status``) once the recipient is done.

A later try reads every earlier file. A row with a result is done and costs no request; a
row with only an intent is checked with Blip before sending; a row with neither was never
sent, **if** every earlier try's file could be read. When one is missing (the try ran on
another machine with local files, or on an object store that uploads only on close), the
journal is *untrusted* and every unfinished row is checked with Blip before sending. Either
way nothing is sent twice; the journal only saves requests.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils.runfiles import dumps, read_jsonl

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TextIO

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


def try_file(directory: ObjectStoragePath, try_number: int) -> ObjectStoragePath:
    """Return the journal file of one try."""
    return directory / f"try-{try_number}.jsonl"


def load(directory: ObjectStoragePath, try_number: int) -> Progress:
    """Read the journals of tries ``1 .. try_number - 1``; later lines win."""
    progress = Progress()
    for earlier in range(1, try_number):
        path = try_file(directory, earlier)
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
    # A result marked unknown (send outcome ambiguous) is not done: ask Blip on this try.
    for row in [r for r, line in progress.done.items() if line.get("status") == "unknown"]:
        progress.in_flight[row] = progress.done.pop(row)
    return progress


class Writer:
    """Appends lines to this try's journal, one flushed line at a time (thread-safe by lock)."""

    def __init__(self, directory: ObjectStoragePath, try_number: int) -> None:
        import threading

        directory.mkdir(parents=True, exist_ok=True)
        self.path = try_file(directory, try_number)
        self._out: TextIO = self.path.open("w", encoding="utf-8")
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
