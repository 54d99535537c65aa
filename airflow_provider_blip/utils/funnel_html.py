"""The delivery funnel of a job as one self-contained HTML page (inline CSS and SVG, no script).

The same page is the report step's file (``funnel.html`` next to the run files) and the
Blip page of the Airflow UI plugin. It shows only what :class:`~.runview.JobView` holds:
counts, times, and recipients with their numbers already masked. Every value is escaped.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from airflow_provider_blip.utils.funnel import Funnel
    from airflow_provider_blip.utils.runview import JobView

#: The funnel's bars, in order, and the stages shown beside it.
FUNNEL = (("sent", "Sent"), ("accepted", "Accepted"), ("received", "Received"), ("read", "Read"))
BESIDE = (("failed", "Failed"), ("no_report", "No report"), ("not_sent", "Not sent"), ("queued", "Queued"))
_COLOURS = {
    "sent": "#5b8def",
    "accepted": "#3fa7d6",
    "received": "#2bb673",
    "read": "#138a52",
    "failed": "#d64545",
    "no_report": "#e39b2d",
    "not_sent": "#8c8c8c",
    "queued": "#c7c7c7",
}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2433;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#5d6778;margin:0 0 16px}.sub a{color:#2a5bd7}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e3e6eb;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #e3e6eb;border-radius:8px;padding:8px 14px;min-width:88px}
.card b{display:block;font-size:22px}.card span{color:#5d6778;font-size:12px}
svg text{font-size:12px;fill:#1d2433}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def funnel_svg(funnel: Funnel, width: int = 560) -> str:
    """Horizontal bars: the funnel's four stages, then the ones beside it."""
    counts = funnel.as_dict()
    bars = [*FUNNEL, *BESIDE]
    scale = max(1, funnel.total)
    row, label_w, top = 26, 90, 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(bars) + 14}" '
        f'role="img" aria-label="delivery funnel">'
    ]
    for i, (key, label) in enumerate(bars):
        y = top + i * row + (10 if i >= len(FUNNEL) else 0)  # a gap between the funnel and the rest
        bar = round((width - label_w - 60) * counts[key] / scale)
        parts.append(
            f'<text x="0" y="{y + 14}">{_e(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{bar}" height="18" rx="3" fill="{_COLOURS[key]}"/>'
            f'<text x="{label_w + bar + 6}" y="{y + 14}" data-count="{key}">{counts[key]}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _cards(funnel: Funnel) -> str:
    counts = funnel.as_dict()
    cards = [("total", "Recipients"), *FUNNEL, *BESIDE]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b id="count-{key}">{counts[key]}</b><span>{_e(label)}</span></div>'
            for key, label in cards
        )
        + "</div>"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], table_id: str, numeric: int = 0) -> str:
    """Render a table; the last ``numeric`` columns are right-aligned numbers."""
    first = len(headers) - numeric

    def cells(values: Sequence[object], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=n' if i >= first else ''}>{_e(v)}</{tag}>" for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows) or (
        f'<tr><td colspan="{len(headers)}">none</td></tr>'
    )
    return (
        f'<table id="{table_id}"><thead><tr>{cells(headers, "th")}</tr></thead><tbody>{body}</tbody></table>'
    )


_STAGE_COLUMNS = tuple(key for key, _ in (*FUNNEL, *BESIDE))
_STAGE_LABELS = tuple(label for _, label in (*FUNNEL, *BESIDE))


def _stage_row(funnel: Funnel) -> list[object]:
    counts = funnel.as_dict()
    return [counts[key] for key in _STAGE_COLUMNS]


def render_job(view: JobView, *, run_link: str | None = None, refresh_seconds: int | None = None) -> str:
    """Return the whole page for one job.

    :param view: the job as read from its files.
    :param run_link: a link to the DAG run in the Airflow UI (the plugin's page gives one).
    :param refresh_seconds: reload the page this often (the plugin's page, while delivery is followed).
    """
    headers = ("Chunk", "Phase", *_STAGE_LABELS)
    chunks = _table(headers, ([c.index, c.phase, *_stage_row(c.funnel)] for c in view.chunks), "chunks", 8)
    reasons = _table(("Status", "Reason", "Recipients"), view.reasons, "reasons", 1)
    failed = _table(
        ("Chunk", "Row", "Phone", "Status", "Reason"),
        ((f.chunk, f.row, f.phone, f.status, f.reason) for f in view.failed),
        "failed",
    )
    history = _table(
        ("Time", "Files", *_STAGE_LABELS),
        ([_time(s.at), s.label, *_stage_row(s.funnel)] for s in view.history),
        "history",
        8,
    )
    shown = len(view.failed)
    more = f" (the first {shown} of {view.failed_total}, failures first)" if shown < view.failed_total else ""
    link = f' · <a href="{_e(run_link)}" target="_top">the DAG run</a>' if run_link else ""
    meta = f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>Blip delivery: {_e(view.dag_id)} {_e(view.job)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Blip delivery funnel</h1>"
        f'<p class="sub">DAG <b id="dag-id">{_e(view.dag_id)}</b> · job <code id="job">{_e(view.job)}</code>'
        f"{link}</p>"
        f"{_cards(view.funnel)}<h2>Funnel</h2>{funnel_svg(view.funnel)}"
        f"<h2>Per chunk</h2>{chunks}<h2>Over time</h2>{history}"
        f"<h2>Per failure reason</h2>{reasons}"
        f"<h2>Recipients not delivered{_e(more)}</h2>{failed}"
        f"</body></html>"
    )


def index_page(jobs: dict[str, list[str]]) -> str:
    """Return the plugin's index: each DAG with run files, its jobs newest first, linked."""
    from urllib.parse import quote

    sections = "".join(
        f"<h2>{_e(dag_id)}</h2><ul>"
        + "".join(
            f'<li><a href="jobs/{quote(dag_id, safe="")}/{quote(job, safe="")}">{_e(job)}</a></li>'
            for job in keys
        )
        + "</ul>"
        for dag_id, keys in sorted(jobs.items())
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Blip delivery</title>'
        f"<style>{_CSS}</style></head><body><h1>Blip delivery</h1>"
        f'<p class="sub">The jobs whose run files are still kept, newest first.</p>'
        f"{sections or '<p>No Blip run files yet.</p>'}</body></html>"
    )
