"""The scheduled WhatsApp notification job, at any audience size.

Every day at 09:00 (America/Sao_Paulo) it streams an audience CSV (a ``phone`` column plus
template values) into chunks, then one mapped task per chunk looks every number up on
WhatsApp, sends the approved template to the account Blip returns and moves the user to a
block of the bot's flow (the router's ``master-state`` first when given), the three steps
overlapping per recipient. Optionally the recipients join a distribution list; one mapped
wait per chunk follows delivery, and a last task reports what happened to every recipient,
numbers masked.

Per-recipient results go to files under ``$AIRFLOW_HOME/blip-runs`` (see
docs/operators/notify.md); XCom only carries references and counts. A retried or cleared
chunk resumes: nothing is sent twice.

Needs a ``blip_default`` connection (see docs/connection.md). Nothing here runs at parse
time: no network call, no Variable read.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_blip.operators.lists import BlipDistributionListOperator
from airflow_provider_blip.operators.notify import BlipNotifyOperator, BlipSplitAudienceOperator
from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor

DAG_ID = "blip_whatsapp_notifications"
SAMPLE_AUDIENCE = str(Path(__file__).parent / "data" / "blip_sample_audience.csv")


@dag(
    dag_id=DAG_ID,
    schedule="0 9 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["example", "blip"],
    # Lists and None params must reach the operators as lists and None, not as strings.
    render_template_as_native_obj=True,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "audience": Param(
            SAMPLE_AUDIENCE, type="string", description="Path or URL of a CSV with a phone column"
        ),
        "template_name": Param("order_update", type="string"),
        "language": Param("pt_BR", type="string"),
        "body_columns": Param(["name", "order_id"], type="array", description="Columns for {{1}}, {{2}}..."),
        "flow_id": Param("notifications-flow", type=["string", "null"]),
        "state_id": Param("order-update-followup", type=["string", "null"]),
        "master_state": Param(None, type=["string", "null"], description="Router sub-bot, e.g. x@msging.net"),
        "list_name": Param(None, type=["string", "null"], description="Add the recipients to this list"),
        "default_region": Param("BR", type="string"),
    },
)
def blip_whatsapp_notifications():
    # [START howto_operator_blip_split_audience]
    split = BlipSplitAudienceOperator(
        task_id="split",
        audience="{{ params.audience }}",
        default_region="{{ params.default_region }}",
        chunk_size=1000,  # raised for big audiences so the chunks stay under max_map_length
    )
    # [END howto_operator_blip_split_audience]

    # [START howto_operator_blip_notify]
    notify = BlipNotifyOperator.partial(
        task_id="notify",
        template_name="{{ params.template_name }}",
        language="{{ params.language }}",
        body_columns="{{ params.body_columns }}",
        flow_id="{{ params.flow_id }}",
        state_id="{{ params.state_id }}",
        master_state="{{ params.master_state }}",  # set first when the bot is behind a router
        # One chunk at a time already uses the whole plan; to run several at once, see the
        # connection's parallel_tasks extra and docs/performance.md.
        max_active_tis_per_dag=1,
    ).expand(chunk=split.output)
    # [END howto_operator_blip_notify]

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def wants_list(params=None) -> bool:
        return bool(params["list_name"])

    add_to_list = BlipDistributionListOperator.partial(
        task_id="add_to_list",
        list_name="{{ params.list_name }}",
        action="add",
        do_xcom_push=False,  # its per-recipient rows stay out of XCom (counts are in the log)
    ).expand(recipients=notify.output)  # one chunk's results file each: memory stays bounded

    # [START howto_sensor_blip_message_status_chunk]
    delivered = BlipMessageStatusSensor.partial(
        task_id="wait_for_delivery",
        target="received",
        deferrable=True,
        poke_interval=5,
        timeout=2 * 3600,
    ).expand(messages=notify.output)  # one wait per chunk; its statuses go to a file
    # [END howto_sensor_blip_message_status_chunk]

    @task(trigger_rule="none_failed")
    def report(deliveries) -> dict:
        from airflow_provider_blip.utils.report import build_job_report

        text, counts = build_job_report(deliveries)
        print(text)
        return counts  # counts only: no phone number goes to XCom from here

    notify >> wants_list() >> add_to_list
    report(delivered.output)


blip_whatsapp_notifications()
