"""The report step's picture: the job's funnel as ``funnel.html`` next to its run files.

For teams without the UI plugin. The file is owner-only (``0o600``) like every run file,
although it holds no full number: recipients appear masked, as on the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_blip.utils.funnel_html import render_job
from airflow_provider_blip.utils.runfiles import open_private
from airflow_provider_blip.utils.runview import job_of_delivery, read_job

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: The file's name in the job's directory.
FILE_NAME = "funnel.html"


def write_funnel_html(dag_id: str, deliveries: Iterable[Mapping[str, Any] | None]) -> str | None:
    """Write the job's funnel page from its chunks' delivery references; return its URI.

    :param dag_id: the DAG, shown on the page.
    :param deliveries: each chunk's ``{"delivery": uri, ...}`` as the waits return them
        (``None`` for a chunk whose wait was skipped); ``None`` is returned when there is none.
    """
    first = next((d for d in deliveries if d and d.get("delivery")), None)
    if first is None:
        return None
    layout = job_of_delivery(str(first["delivery"]))
    # The task that wrote the delivery files is the one whose results the page reads.
    page = render_job(read_job(layout, dag_id, _task_of(str(first["delivery"]))))
    target = layout.directory / FILE_NAME
    with open_private(target, "w", encoding="utf-8") as out:
        out.write(page)
    return str(target)


def _task_of(delivery_uri: str) -> str:
    # .../results/{task_id}/{index:05d}/delivery-{attempt}.jsonl
    return delivery_uri.rstrip("/").split("/")[-3]
