"""Page the on-call team on WhatsApp when a task fails, with :class:`BlipNotifier`.

Trigger it with ``{"simulate_failure": true}`` to see the alert go out.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_blip.notifications.blip import BlipNotifier

DAG_ID = "blip_on_call_alert"

# [START howto_notifier_blip]
on_call_alert = BlipNotifier(
    to=["+5511987654321", "(31) 98888-7777"],
    template_name="pipeline_failed",
    language="pt_BR",
    body=["{{ dag.dag_id }}", "{{ ti.task_id }}", "{{ run_id }}"],
)
# [END howto_notifier_blip]


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["example", "blip"],
    params={"simulate_failure": Param(False, type="boolean")},
)
def blip_on_call_alert() -> None:
    @task(on_failure_callback=on_call_alert, retries=0)
    def nightly_load(params: Any = None) -> None:  # Airflow passes the run's params
        if params["simulate_failure"]:
            raise RuntimeError("simulated failure: the on-call phones get a WhatsApp template")
        print("nightly load done")

    nightly_load()


blip_on_call_alert()
