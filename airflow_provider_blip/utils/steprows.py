"""Keep a thin operator's per-recipient rows out of XCom: in a run file, with a reference in XCom.

XCom is shown in the UI and kept in Airflow's database, so it should never hold a phone
number. The thin operators (verify, send, context, list) return result rows; wrapped with
:func:`rows_in_files`, they write those rows to the run's files and return
``{"results": uri, "rows": n, "counts": {...}}``, which every Blip operator and the delivery
sensor read back as the rows themselves. :func:`rows_of` reads them back in a ``@task``.

Layout: ``{runs root}/{dag_id}/{run_id}/results/{task_id}/try-{n}.jsonl``, owner-only on a local
disk (see :mod:`airflow_provider_blip.utils.runfiles`), removed with the other run files by
:class:`~airflow_provider_blip.operators.cleanup.BlipCleanupRunsOperator`.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow_provider_blip.utils import runfiles
from airflow_provider_blip.utils.results import summarize


def rows_to_run_file(rows: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    """Write a step's result rows to this run's files; return the reference the next step reads.

    :param rows: the step's result rows.
    :param context: the task context (its task instance names the file).
    """
    ti = context["ti"]
    task = runfiles.safe_segment(ti.task_id)
    path = runfiles.run_dir(None, ti.dag_id, ti.run_id) / "results" / task / f"try-{ti.try_number}.jsonl"
    runfiles.write_jsonl(path, rows)
    return {"results": str(path), "rows": len(rows), "counts": summarize(rows)}


def rows_of(reference: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Read back the rows of a step (``None`` when the step was skipped).

    :param reference: what a wrapped operator or the delivery sensor returned.
    """
    if not reference:
        return None
    uri = reference.get("results") or reference["delivery"]  # the sensor writes "delivery"
    return list(runfiles.read_jsonl(runfiles.storage_path(uri)))


class _RowsInRunFiles:
    def execute(self, context: Any) -> Any:
        return rows_to_run_file(super().execute(context), context)  # type: ignore[misc]


@functools.cache
def rows_in_files(operator: type) -> type:
    """Return ``operator`` with its result rows in a run file and their reference in XCom.

    :param operator: a Blip operator class whose ``execute`` returns result rows.
    """
    return type(operator.__name__, (_RowsInRunFiles, operator), {"__module__": __name__})
