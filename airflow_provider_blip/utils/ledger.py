"""The cross-job guard's ledger: which recipients a DAG sent a template to, and when, hashed.

``skip_if_sent_within`` skips a recipient this DAG already sent the same template to within
a window, whatever job (logical date) sent it. Each job writes down its sends; the next job
loads the sends still inside the window into an in-memory table and asks it once per
recipient. Layout under the runs root (see :mod:`airflow_provider_blip.utils.runfiles`)::

    {dag_id}/ledger/{template}/{job_key}.bin                 one job's sends
    {dag_id}/ledger/{template}/{job_key}~{part}.bin          one part of a job (a chunk task)
    {dag_id}/ledger/{template}/{job_key}~{part}~{nonce}.bin  the same on an object store

A record is 12 bytes: the recipient's 64-bit keyed hash and the send time (seconds since
1970, unsigned 32-bit, little-endian). No number is stored: the hash is a BLAKE2b of
(template, E.164 number) keyed by the DAG id. That keeps numbers out of sight, not out of
reach (the key is no secret: whoever can read the ledger can test a number against it), so
the ledger is stored like the run files, owner-only. On a local disk a part is appended and
flushed record by record (a killed worker loses at most a cut last record, which is dropped);
an object store cannot append, so each writer has its own object, uploaded when closed.

At 1,000,000 recipients the table is an ``array('Q')`` of 2**21 slots (16 MB), open
addressing with linear probing: one hash and a probe or two per recipient. A chunk task that
knows which numbers it will ask about passes them as ``candidates``: the segments are then
matched against those in C and the table holds the chunk's sends only. Two different
numbers share a hash with odds of about one in 10**13 per lookup at that size; the only
effect would be one recipient skipped.
"""

from __future__ import annotations

import hashlib
import os  # noqa: TC003  (os.PathLike in annotations only, but it is no import cost)
import struct
import sys
import threading
import uuid
from array import array
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.retention import LEDGER_DIR, check_retention
from airflow_provider_blip.utils.runfiles import (
    default_root,
    local_path,
    open_private,
    safe_segment,
    storage_path,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.sdk import ObjectStoragePath

#: One record: keyed hash, send time.
RECORD = struct.Struct("<QI")
SUFFIX = ".bin"
#: Separates a job key from its part in a segment's name; ``safe_segment`` never yields it.
PART_SEPARATOR = "~"

#: A segment is removed once its newest send is older than the window plus this: a job that
#: paused longer than the window (its file still open) does not lose its file.
PRUNE_GRACE = timedelta(days=1)

_READ_RECORDS = 65536  # records per read: 768 KB
_MAX_INITIAL_SLOTS = 1 << 21  # larger tables grow, so overlapping segments do not oversize it
_MAX_SECONDS = (1 << 32) - 1
_UINT32 = next(code for code in "IL" if array(code).itemsize == 4)


def ledger_dir(root: str | os.PathLike[str] | None, dag_id: str, template: str) -> ObjectStoragePath:
    """Return the folder of one DAG's sends of one template."""
    base = storage_path(root or default_root())
    return base / safe_segment(dag_id) / LEDGER_DIR / safe_segment(template)


class _Hasher:
    """The keyed 64-bit hash of a recipient for one (DAG, template)."""

    def __init__(self, dag_id: str, template: str) -> None:
        key = hashlib.blake2b(dag_id.encode(), digest_size=32, person=b"blip-ledger-v1").digest()
        self._base = hashlib.blake2b(digest_size=8, key=key)
        self._base.update(template.encode() + b"\0")

    def __call__(self, phone_e164: str) -> int:
        if not _is_e164(phone_e164):
            raise BlipConfigError("the ledger takes E.164 numbers (+ and 7 to 15 digits)")
        digest = self._base.copy()
        digest.update(phone_e164.encode())
        # 0 marks an empty slot of the table: the one hash that is 0 becomes 1.
        return int.from_bytes(digest.digest(), "little") or 1


def _columns(records: bytes) -> tuple[array[int], array[int]]:
    """Split whole 12-byte records into an array of hashes and one of times.

    Strided slice copies run in C: a block costs a few allocations, not three per record.
    """
    count = len(records) // RECORD.size
    keys, times = bytearray(8 * count), bytearray(4 * count)
    for byte in range(8):
        keys[byte::8] = records[byte :: RECORD.size]
    for byte in range(4):
        times[byte::4] = records[8 + byte :: RECORD.size]
    key_column, time_column = array("Q"), array(_UINT32)
    key_column.frombytes(keys)
    time_column.frombytes(times)
    if sys.byteorder == "big":  # the file is little-endian whatever the machine
        key_column.byteswap()
        time_column.byteswap()
    return key_column, time_column


def _is_e164(phone: object) -> bool:
    digits = phone[1:] if isinstance(phone, str) and phone.startswith("+") else ""
    return digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15


def _job_of(name: str) -> str:
    return name[: -len(SUFFIX)].split(PART_SEPARATOR, 1)[0]


def _seconds(when: datetime) -> int:
    if when.tzinfo is None:
        raise BlipConfigError("the send time must be timezone-aware")
    return min(max(int(when.timestamp()), 0), _MAX_SECONDS)


class SentLedger:
    """The recipients sent one template by one DAG within a window, for O(1) lookups.

    Build it with :meth:`load`; ask :meth:`recently_sent` once per recipient.
    """

    def __init__(self, dag_id: str, template: str, expected: int = 0) -> None:
        self._hash = _Hasher(dag_id, template)
        self._wanted: set[int] | None = None
        slots = 1024
        while slots < 2 * min(expected, _MAX_INITIAL_SLOTS // 2):
            slots *= 2
        self._slots = array("Q", [0]) * slots  # no temporary buffer of the same size
        self._mask = slots - 1
        self._count = 0

    @classmethod
    def load(
        cls,
        root: str | os.PathLike[str] | None,
        dag_id: str,
        template: str,
        window: timedelta | float | str,
        now: datetime | None = None,
        job_key: str | None = None,
        *,
        candidates: Iterable[str] | None = None,
        prune: bool = True,
    ) -> SentLedger:
        """Read the sends of the last ``window`` from every job's segments but ``job_key``'s.

        The running job's own segments never count against it: a retry of the same job
        resumes from its journal instead.

        :param root: the runs root (default: as the operators use).
        :param window: ``skip_if_sent_within``: a ``timedelta`` or a number of days.
        :param now: the time the window ends (default: now).
        :param job_key: the running job, whose segments are skipped.
        :param candidates: the only numbers that will be asked about (e.g. one chunk's):
            only their sends are kept, so memory follows the chunk, not the ledger, and the
            segments are matched in C. Anything not E.164 among them is left out.
        :param prune: remove the segments whose sends are all older than the window
            (plus :data:`PRUNE_GRACE`).
        """
        window = check_retention(window, setting="skip_if_sent_within")
        moment = now or datetime.now(UTC)
        cutoff = _seconds(moment - window)
        stale = _seconds(moment - window - PRUNE_GRACE)
        own = safe_segment(job_key) if job_key is not None else None
        directory = ledger_dir(root, dag_id, template)
        segments = [
            path
            for path in (directory.iterdir() if directory.is_dir() else ())
            if path.name.endswith(SUFFIX) and _job_of(path.name) != own
        ]
        if candidates is None:
            ledger = cls(dag_id, template, expected=sum(p.stat().st_size for p in segments) // RECORD.size)
        else:
            ledger = cls(dag_id, template)
            ledger._wanted = {ledger._hash(p) for p in candidates if _is_e164(p)}
        for path in segments:
            newest = ledger._read(path, cutoff)
            if prune and newest is not None and newest < stale:
                path.unlink(missing_ok=True)  # another task may have pruned it first
        return ledger

    def _read(self, path: ObjectStoragePath, cutoff: int) -> int | None:
        """Add a segment's records sent at ``cutoff`` or later; return its newest send time."""
        newest: int | None = None
        block_size = RECORD.size * _READ_RECORDS
        with path.open("rb") as source:
            rest = b""
            while block := source.read(block_size):
                data = rest + block
                whole = len(data) - len(data) % RECORD.size
                rest = data[whole:]  # a record cut at the block's end, completed by the next
                if not whole:
                    continue
                keys, times = _columns(data[:whole])
                newest = max(newest or 0, max(times))
                if min(times) < cutoff:  # a block at the window's edge: the rare slow path
                    keys = array("Q", (k for k, sent in zip(keys, times, strict=True) if sent >= cutoff))
                if self._wanted is not None:
                    keys = array("Q", self._wanted.intersection(keys))
                self._insert_all(keys)
        # A rest left at the very end is a record cut by a killed writer: dropped.
        return newest

    def _insert_all(self, keys: array[int]) -> None:
        # One loop over the block with locals only: the fewest objects per record.
        while 2 * (self._count + len(keys)) > len(self._slots):
            self._grow()
        slots, mask = self._slots, self._mask
        added = 0
        for key in keys:
            index = key & mask
            while True:
                found = slots[index]
                if found == 0:
                    slots[index] = key
                    added += 1
                    break
                if found == key:
                    break
                index = (index + 1) & mask
        self._count += added

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", [0]) * (2 * len(old))
        self._mask = len(self._slots) - 1
        self._count = 0
        self._insert_all(array("Q", (key for key in old if key)))

    def recently_sent(self, phone_e164: str) -> bool:
        """Tell whether the window holds a send of this template to this number.

        With ``candidates``, a number outside them is never found.
        """
        key = self._hash(phone_e164)
        slots, mask = self._slots, self._mask
        index = key & mask
        while True:
            found = slots[index]
            if found == key:
                return True
            if found == 0:
                return False
            index = (index + 1) & mask

    def __len__(self) -> int:
        return self._count


class LedgerWriter:
    """Append one job's (or one part's) sends to its segment, one flushed record at a time.

    Thread-safe; the file is created on the first send, so a part with no send leaves none.

    :param root: the runs root (default: as the operators use).
    :param part: which part of the job writes, when several tasks do (e.g. the chunk's map
        index): each part has its own file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        dag_id: str,
        template: str,
        job_key: str,
        part: int | str | None = None,
    ) -> None:
        self._hash = _Hasher(dag_id, template)
        directory = ledger_dir(root, dag_id, template)
        name = safe_segment(job_key)
        if part is not None:
            name += PART_SEPARATOR + safe_segment(str(part))
        self._append = local_path(directory) is not None
        if not self._append:
            name += PART_SEPARATOR + uuid.uuid4().hex[:12]  # objects cannot be appended to
        self.path = directory / f"{name}{SUFFIX}"
        self._out: IO[Any] | None = None
        self._closed = False
        self._lock = threading.Lock()

    def add(self, phone_e164: str, when: datetime | None = None) -> None:
        """Record a send to ``phone_e164`` (E.164) at ``when`` (default: now)."""
        self._write(RECORD.pack(self._hash(phone_e164), _seconds(when or datetime.now(UTC))))

    def add_many(self, phones_e164: Iterable[str], when: datetime | None = None) -> int:
        """Record sends to many numbers at one time (e.g. what a resumed job had sent); return how many."""
        sent = _seconds(when or datetime.now(UTC))
        records = b"".join(RECORD.pack(self._hash(phone), sent) for phone in phones_e164)
        self._write(records)
        return len(records) // RECORD.size

    def _write(self, records: bytes) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("the ledger writer is closed")
            if not records:
                return
            if self._out is None:
                self._out = open_private(self.path, "ab" if self._append else "wb")
            self._out.write(records)
            self._out.flush()  # a killed worker leaves at most one cut record, which load drops

    def close(self) -> None:
        """Close the segment (on an object store, this uploads it)."""
        with self._lock:
            self._closed = True
            if self._out is not None:
                self._out.close()

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
