"""The extra link from a notify or wait task to the Blip page of its run (no UI import here).

Airflow 3 works a link out on the worker when the task ends and keeps it as an XCom, so this
module is imported by the operators and must stay light: no FastAPI, no plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Where the plugin's app is mounted in the api-server.
URL_PREFIX = "/blip"


def run_page(dag_id: str, run_id: str, base_url: str = "") -> str:
    """Return the URL of one DAG run's Blip page (relative when ``base_url`` is empty)."""
    return f"{base_url.rstrip('/')}{URL_PREFIX}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


class BlipDeliveryLink(BaseOperatorLink):
    """Link a task to its run's delivery funnel on the Blip page."""

    name = "Blip delivery"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk import conf

        return run_page(ti_key.dag_id, ti_key.run_id, conf.get("api", "base_url", fallback="") or "")
