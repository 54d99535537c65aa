"""Remove old run files (phone numbers, names, values) once their retention has passed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.retention import DEFAULT_RETENTION, check_retention, clean_runs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context


class BlipCleanupRunsOperator(BaseOperator):
    """Remove the run files of the jobs that nothing touched for ``retention`` (default 7 days).

    A job's files (chunks, results, journal) are what lets a re-run resume without sending
    twice, and they hold personal data: they stay while the job may still be re-run, then go.
    A job is judged by its newest file, so a job resumed recently is kept. The cross-job
    guard's ledger is not touched (it is pruned by its own window). Nothing outside the runs
    root is removed and no link is followed.

    .. seealso:: docs/privacy.md

    :param runs_path: root of the run files, local path or URL (default
        ``$AIRFLOW_PROVIDER_BLIP_RUNS_PATH``, else ``$AIRFLOW_HOME/blip-runs``), as given to
        the notification operators. (templated)
    :param retention: how long a job's files stay after their last change: a ``timedelta``
        or a number of days (e.g. ``"{{ params.retention_days }}"``). (templated)
    :param dag_ids: the DAGs whose run files are cleaned; default: this task's DAG. (templated)
    :return: counts only: ``jobs_removed``, ``files_removed``, ``jobs_kept``, ``jobs_failed``.
    """

    template_fields = ("runs_path", "retention", "dag_ids")
    ui_color = "#2CC3D5"

    def __init__(
        self,
        *,
        runs_path: str | None = None,
        retention: timedelta | float | str = DEFAULT_RETENTION,
        dag_ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (isinstance(retention, str) and "{{" in retention):
            check_retention(retention)  # a wrong literal fails when the DAG is parsed
        if isinstance(dag_ids, str) and "{{" not in dag_ids:
            raise BlipConfigError(f"dag_ids must be a list of DAG ids, got the string {dag_ids!r}")
        self.runs_path = runs_path
        self.retention = retention
        self.dag_ids = dag_ids

    def execute(self, context: Context) -> dict[str, int]:
        retention = check_retention(self.retention)
        if isinstance(self.dag_ids, str):
            raise BlipConfigError(
                f"dag_ids must render to a list of DAG ids, got the string {self.dag_ids!r}"
            )
        dag_ids = list(self.dag_ids) if self.dag_ids else [context["ti"].dag_id]
        result = clean_runs(self.runs_path, dag_ids=dag_ids, retention=retention)
        self.log.info(
            "Blip cleanup (retention %s, DAGs %s): %d jobs removed (%d files), %d kept, %d failed",
            retention,
            ", ".join(dag_ids),
            result.jobs_removed,
            result.files_removed,
            result.jobs_kept,
            result.jobs_failed,
        )
        if result.jobs_failed:
            self.log.warning(
                "Blip cleanup: %d jobs could not be removed; see the runs root", result.jobs_failed
            )
        return result.counts()
