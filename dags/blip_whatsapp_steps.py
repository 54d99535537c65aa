"""The notification job one step per task: verify, send, redirect the flow, list, wait, report.

The same job as ``blip_whatsapp_notifications``, written with the thin operators, each step
a task that passes its result rows to the next: fine for small audiences (a few thousand
rows) or to watch each step. For real audiences use ``blip_whatsapp_notifications``
(chunks, files, steps overlapping). Run by hand, it reads an audience CSV (a ``phone``
column plus template values), looks every valid number up on WhatsApp, sends the approved
template to the account Blip returns, moves each user to a block of the bot's flow (setting
the router's ``master-state`` first when given), optionally adds them to a distribution
list, waits for delivery and reports what happened to every recipient, numbers masked.

The rows hold phone numbers, and XCom is shown in the UI and kept in Airflow's database:
each step writes its rows to a run file (owner-only, removed after its retention, see
docs/privacy.md) and XCom carries only the file's reference and the counts.

Needs a ``blip_default`` connection (see docs/connection.md). Nothing here runs at parse
time: no network call, no Variable read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_blip.operators.blip import (
    BlipSendTemplateOperator,
    BlipSetContextOperator,
    BlipVerifyContactOperator,
)
from airflow_provider_blip.operators.lists import BlipAddToListOperator
from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor
from airflow_provider_blip.utils.report import build_report
from airflow_provider_blip.utils.steprows import rows_in_files, rows_of

#: What a step task passes on: a reference to its rows in a run file (None when skipped).
Ref = dict[str, Any] | None

DAG_ID = "blip_whatsapp_steps"
SAMPLE_AUDIENCE = str(Path(__file__).parent / "data" / "blip_sample_audience.csv")


@dag(
    dag_id=DAG_ID,
    schedule=None,  # run by hand: the scheduled job is blip_whatsapp_notifications
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
def blip_whatsapp_steps() -> None:
    # [START howto_operator_blip_verify]
    verify = rows_in_files(BlipVerifyContactOperator)(
        task_id="verify",
        audience="{{ params.audience }}",
        default_region="{{ params.default_region }}",
        required_columns="{{ params.body_columns }}",  # rows missing a value are never looked up
    )
    # [END howto_operator_blip_verify]

    # [START howto_operator_blip_send_template]
    send = rows_in_files(BlipSendTemplateOperator)(
        task_id="send",
        recipients=verify.output,
        template_name="{{ params.template_name }}",
        language="{{ params.language }}",
        body_columns="{{ params.body_columns }}",
    )
    # [END howto_operator_blip_send_template]

    # [START howto_operator_blip_set_context]
    redirect = rows_in_files(BlipSetContextOperator)(
        task_id="redirect",
        recipients=send.output,
        flow_id="{{ params.flow_id }}",
        state_id="{{ params.state_id }}",
        master_state="{{ params.master_state }}",  # set first when the bot is behind a router
    )
    # [END howto_operator_blip_set_context]

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def wants_list(params: Any = None) -> bool:  # Airflow passes the run's params
        return bool(params["list_name"])

    # [START howto_operator_blip_list_add]
    add_to_list = rows_in_files(BlipAddToListOperator)(
        task_id="add_to_list",
        list_name="{{ params.list_name }}",
        recipients=send.output,
    )
    # [END howto_operator_blip_list_add]

    # [START howto_sensor_blip_message_status]
    delivered = BlipMessageStatusSensor(
        task_id="wait_for_delivery",
        messages=send.output,
        target="received",
        deferrable=True,
        poke_interval=5,
        timeout=2 * 3600,
    )
    # [END howto_sensor_blip_message_status]

    @task(trigger_rule="none_failed")
    def report(verified: Ref, sent: Ref, moved: Ref, listed: Ref, delivery: Ref) -> dict[str, int]:
        first, *later = [rows_of(reference) for reference in (verified, sent, moved, listed, delivery)]
        text, counts = build_report(first or [], *later)
        print(text)
        return counts  # counts only: no phone number goes to XCom from here

    redirect >> wants_list() >> add_to_list
    # Airflow passes the upstream value where the DAG passes its XComArg; types cannot say so.
    report(verify.output, send.output, redirect.output, add_to_list.output, delivered.output)  # type: ignore[arg-type]


blip_whatsapp_steps()
