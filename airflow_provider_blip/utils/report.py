"""The run report of a notification job, numbers masked (no I/O but the chunked report's reads)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils.results import RecipientStatus, mask_phone_cell, mask_text_cell

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


def _by_row(rows: Iterable[Mapping[str, Any]] | None) -> dict[int, Mapping[str, Any]]:
    return {int(r["row"]): r for r in rows or () if isinstance(r, dict) and r.get("row")}


def merge_steps(
    verified: Iterable[Mapping[str, Any]],
    sent: Iterable[Mapping[str, Any]] | None = None,
    moved: Iterable[Mapping[str, Any]] | None = None,
    listed: Iterable[Mapping[str, Any]] | None = None,
    delivery: Iterable[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Combine the steps' result rows into one row per recipient.

    ``status`` is the furthest step's word on the recipient: the delivery status when the
    message was followed, else the send's, else the lookup's. ``flow`` and ``list`` tell
    what the redirect and list steps did (``-`` when they did not touch the row).
    """
    later = [_by_row(sent), _by_row(delivery)]
    flow, lists = _by_row(moved), _by_row(listed)
    merged = []
    for row, first in sorted(_by_row(verified).items()):
        final = next((step[row] for step in reversed(later) if row in step), first)
        merged.append(
            {
                "row": row,
                "phone": first.get("phone", ""),
                "status": final.get("status", ""),
                "flow": _own_status(flow.get(row), _FLOW_STATUSES),
                "list": _own_status(lists.get(row), _LIST_STATUSES),
                "reason": final.get("reason") or first.get("reason") or "",
            }
        )
    return merged


_FLOW_STATUSES = (RecipientStatus.CONTEXT_SET, RecipientStatus.CONTEXT_FAILED)
_LIST_STATUSES = (RecipientStatus.ADDED, RecipientStatus.REMOVED, RecipientStatus.LIST_FAILED)


def _own_status(step_row: Mapping[str, Any] | None, own: tuple[str, ...]) -> str:
    # A step passes rows it did not act on through unchanged: only its own words count.
    status = (step_row or {}).get("status")
    return str(status) if status in own else "-"


def render(merged: list[dict[str, Any]], columns: tuple[str, ...] = ("flow", "list")) -> str:
    """Render merged rows as a fixed-width table, phone numbers masked.

    :param columns: the step columns shown between ``status`` and ``reason``.
    """
    header = ("row", "phone", "status", *columns, "reason")
    lines = [
        (
            str(r["row"]),
            mask_phone_cell(str(r["phone"])),
            r["status"],
            *(str(r.get(c, "-")) for c in columns),
            mask_text_cell(r["reason"])[:80],  # the same masks as masked_table: one way to show a row
        )
        for r in merged
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*line) for line in lines]
    )


def build_report(
    verified: Iterable[Mapping[str, Any]],
    sent: Iterable[Mapping[str, Any]] | None = None,
    moved: Iterable[Mapping[str, Any]] | None = None,
    listed: Iterable[Mapping[str, Any]] | None = None,
    delivery: Iterable[Mapping[str, Any]] | None = None,
) -> tuple[str, dict[str, int]]:
    """Return the report text and the counts per final status."""
    merged = merge_steps(verified, sent, moved, listed, delivery)
    counts = dict(sorted(Counter(r["status"] for r in merged).items()))
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    text = f"Blip notification run: {len(merged)} recipients ({summary})\n\n{render(merged)}"
    return text, counts


#: Rows of a job report's table: the recipients who did not get the message, up to this many.
REPORT_ROWS = 200

# The order of that table: what went wrong first, rows that could never be sent next, then
# whatever was left out on purpose, and duplicates (each served by an earlier row) last. A
# 50,000-row run must show its three delivery failures, not 200 duplicates.
_FAILURES = frozenset(
    {
        RecipientStatus.FAILED,
        RecipientStatus.SEND_FAILED,
        RecipientStatus.NOT_ON_WHATSAPP,
        RecipientStatus.LOOKUP_FAILED,
        RecipientStatus.CONTEXT_FAILED,
        RecipientStatus.LIST_FAILED,
        RecipientStatus.DELIVERY_UNKNOWN,
        RecipientStatus.SEND_UNKNOWN,
    }
)
_INVALID = frozenset({RecipientStatus.INVALID_NUMBER, RecipientStatus.INVALID_VALUES})
_KINDS = ("failed", "invalid", "other", "duplicate")


def _kind(status: str) -> int:
    """Rank a status in the table: failures 0, invalid rows 1, the rest 2, duplicates 3."""
    if status in _FAILURES:
        return 0
    if status in _INVALID:
        return 1
    return 3 if status == RecipientStatus.DUPLICATE else 2


class _Sample:
    """The first rows of each kind while streaming: at most ``limit`` of each are kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.rows: list[list[dict[str, Any]]] = [[] for _ in _KINDS]
        self.counts = [0] * len(_KINDS)

    def offer(self, row: Mapping[str, Any]) -> None:
        kind = _kind(str(row.get("status", "")))
        self.counts[kind] += 1
        if len(self.rows[kind]) < self.limit:
            self.rows[kind].append(_report_row(row))

    def table(self) -> list[dict[str, Any]]:
        """Return the kept rows, failures first, each kind by row, ``limit`` rows in all."""
        ordered = [row for rows in self.rows for row in sorted(rows, key=lambda r: int(r["row"]))]
        return ordered[: self.limit]

    def title(self) -> str:
        total = sum(self.counts)
        kinds = ", ".join(f"{name} {n}" for name, n in zip(_KINDS, self.counts, strict=True) if n)
        shown = min(total, self.limit)
        listed = "all listed" if shown == total else f"the first {shown} listed, failures first"
        return f"Not delivered: {total} recipients ({kinds}; {listed})" if total else "Not delivered: none"


def build_job_report(deliveries: Iterable[Mapping[str, Any] | None]) -> tuple[str, dict[str, int]]:
    """Report a chunked run from its chunks' delivery references (reads their files).

    The counts add up the chunks'; the table lists the recipients who did not end
    delivered or read, :data:`REPORT_ROWS` at most: real failures first (failed delivery,
    send, lookup, flow or list step, delivery unknown), then invalid rows, then those left
    out on purpose, duplicates last; numbers masked. Then where every recipient's line is.
    Memory stays bounded: at most :data:`REPORT_ROWS` rows of each kind are kept while the
    files stream by.

    :param deliveries: each chunk's ``{"delivery": uri, "counts": {...}}`` (``None`` for a
        chunk whose wait was skipped).
    """
    from airflow_provider_blip.utils.runfiles import read_jsonl, storage_path

    chunks = [d for d in deliveries if d]
    counts: Counter[str] = Counter()
    for chunk in chunks:
        counts.update(chunk.get("counts") or {})
    total = sum(counts.values())
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    sample = _Sample(REPORT_ROWS)
    for chunk in chunks:
        for row in read_jsonl(storage_path(chunk["delivery"])):
            if row.get("status") not in _DELIVERED:
                sample.offer(row)
    files = "\n".join(f"  {c['delivery']}" for c in chunks)
    text = (
        f"Blip notification run: {total} recipients in {len(chunks)} chunks ({summary})\n\n"
        f"{sample.title()}:\n{render(sample.table(), columns=())}\n\n"
        f"Every recipient's result:\n{files}"
    )
    return text, dict(sorted(counts.items()))


_DELIVERED = {RecipientStatus.RECEIVED, RecipientStatus.CONSUMED}


def _report_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "row": row["row"],
        "phone": row.get("phone", ""),
        "status": str(row.get("status", "")),
        "reason": str(row.get("reason") or ""),
    }
