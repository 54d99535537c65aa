"""The scheduled WhatsApp notification job, at any audience size.

Every day at 09:00 (America/Sao_Paulo) it streams an audience CSV (a ``phone`` column plus
template values) into chunks, then one mapped task per chunk looks every number up on
WhatsApp, sends the approved template to the account Blip returns and moves the user to a
block of the bot's flow (the router's ``master-state`` first when given) and, when
``list_name`` is given, adds them to a distribution list, the steps overlapping per
recipient. One mapped wait per chunk follows delivery, and a last task reports what
happened to every recipient, numbers masked, and fails the run when too many failed.

Per-recipient results go to files under ``$AIRFLOW_HOME/blip-runs`` (see
docs/operators/notify.md); XCom only carries references and counts. The files belong to the
job (this DAG and its logical date, or ``campaign_key``): a retry, a cleared task or any new
run of the same logical date resumes it, so nothing is sent twice.

Needs a ``blip_default`` connection (see docs/connection.md). Nothing here runs at parse
time: no network call, no Variable read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, task

from airflow_provider_blip.operators.cleanup import BlipCleanupRunsOperator
from airflow_provider_blip.operators.notify import BlipNotifyOperator, BlipSplitAudienceOperator
from airflow_provider_blip.operators.preflight import BlipPreflightOperator
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
            SAMPLE_AUDIENCE, type="string", description="Path or URL of a CSV, JSON Lines or Parquet file"
        ),
        "phone_column": Param("phone", type="string", description="The column with the phone number"),
        "template_name": Param("order_update", type="string"),
        "language": Param("pt_BR", type="string"),
        "body_columns": Param(["name", "order_id"], type="array", description="Columns for {{1}}, {{2}}..."),
        "flow_id": Param("notifications-flow", type=["string", "null"]),
        "state_id": Param("order-update-followup", type=["string", "null"]),
        "master_state": Param(None, type=["string", "null"], description="Router sub-bot, e.g. x@msging.net"),
        "list_name": Param(None, type=["string", "null"], description="Add the recipients to this list"),
        "default_region": Param("BR", type="string"),
        "max_invalid_ratio": Param(
            0.2, type="number", minimum=0, maximum=1, description="Unusable rows tolerated before any send"
        ),
        "max_failed_ratio": Param(
            0.2, type="number", minimum=0, maximum=1, description="Failures tolerated before sends stop"
        ),
        "skip_if_sent_within_hours": Param(
            None, type=["number", "null"], description="Skip whoever got this template that recently"
        ),
        "campaign_key": Param(
            None, type=["string", "null"], description="The job's identity (default: the logical date)"
        ),
        "max_delay_hours": Param(
            2,
            type=["number", "null"],
            description="A run starting this much after its scheduled time sends nothing (null: off)",
        ),
        "send_window": Param(
            None,
            type=["string", "null"],
            description="Hours to send in, recipient's local time, e.g. 08:00-20:00 (null: any hour)",
        ),
        "approval_threshold": Param(
            1000,
            type="integer",
            minimum=0,
            description="Above this many billable messages, a person approves the send first",
        ),
        "prices": Param(
            None,
            type=["object", "null"],
            description='Price per message by template category, e.g. {"MARKETING": 0.0625} (none built in)',
        ),
        "currency": Param(None, type=["string", "null"], description="The prices' currency"),
        "retention_days": Param(
            7, type="number", minimum=1, description="Run files of this DAG older than this are removed"
        ),
    },
)
def blip_whatsapp_notifications() -> None:
    # [START howto_operator_blip_split_audience]
    split = BlipSplitAudienceOperator(
        task_id="split",
        audience="{{ params.audience }}",
        phone_column="{{ params.phone_column }}",
        default_region="{{ params.default_region }}",
        required_columns="{{ params.body_columns }}",
        max_invalid_ratio="{{ params.max_invalid_ratio }}",
        campaign_key="{{ params.campaign_key }}",
        # The stale-run guard: unpausing at 15:00 does not send the 09:00 job. Seconds; 0: off.
        max_delay="{{ (params.max_delay_hours or 0) * 3600 }}",
        chunk_size=1000,  # raised for big audiences so the chunks stay under max_map_length
    )
    # [END howto_operator_blip_split_audience]

    # [START howto_operator_blip_preflight]
    preflight = BlipPreflightOperator(
        task_id="preflight",
        chunks=split.output,
        template_name="{{ params.template_name }}",
        language="{{ params.language }}",
        prices="{{ params.prices }}",
        currency="{{ params.currency }}",
        skip_if_sent_within="{{ (params.skip_if_sent_within_hours or 0) * 3600 }}",
    )

    @task.branch
    def needs_approval(summary: Any, params: Any = None) -> str:  # Airflow passes both
        # Big sends wait for a person; small ones go on unattended.
        return "approve_send" if summary["billable"] > params["approval_threshold"] else "notify"

    approve_send = ApprovalOperator(
        task_id="approve_send",
        subject="Send {{ ti.xcom_pull(task_ids='preflight')['billable'] }} WhatsApp template messages?",
        body="Preflight of {{ dag.dag_id }} / {{ run_id }}: {{ ti.xcom_pull(task_ids='preflight') }}",
    )
    # [END howto_operator_blip_preflight]

    # [START howto_operator_blip_notify]
    notify = BlipNotifyOperator.partial(
        task_id="notify",
        template_name="{{ params.template_name }}",
        language="{{ params.language }}",
        body_columns="{{ params.body_columns }}",
        flow_id="{{ params.flow_id }}",
        state_id="{{ params.state_id }}",
        master_state="{{ params.master_state }}",  # set first when the bot is behind a router
        list_name="{{ params.list_name }}",  # joined in the same pipeline, after the send
        max_failed_ratio="{{ params.max_failed_ratio }}",  # the breaker: stops new sends
        skip_if_sent_within="{{ (params.skip_if_sent_within_hours or 0) * 3600 }}",  # seconds; 0: off
        # Outside it a recipient waits; the task defers (no worker slot) until the window opens.
        send_window="{{ params.send_window }}",
        # One chunk at a time already uses the whole plan; to run several at once, see the
        # connection's parallel_tasks extra and docs/performance.md.
        max_active_tis_per_dag=1,
        # Runs after the approval, or straight from the branch when none was needed.
        trigger_rule="none_failed_min_one_success",
    ).expand(chunk=split.output)
    needs_approval(preflight.output) >> [approve_send, notify]
    approve_send >> notify
    # [END howto_operator_blip_notify]

    # [START howto_sensor_blip_message_status_chunk]
    delivered = BlipMessageStatusSensor.partial(
        task_id="wait_for_delivery",
        target="received",
        deferrable=True,
        poke_interval=5,
        timeout=2 * 3600,
        max_failed_ratio=1.0,  # the job's policy is applied once, by the report
    ).expand(messages=notify.output)  # one wait per chunk; its statuses go to a file
    # [END howto_sensor_blip_message_status_chunk]

    @task(trigger_rule="none_failed")
    def report(deliveries: Any, params: Any = None, ti: Any = None) -> dict[str, int]:  # Airflow passes both
        from airflow_provider_blip.utils.funnel_file import write_funnel_html
        from airflow_provider_blip.utils.report import build_job_report
        from airflow_provider_blip.utils.results import check_job_outcome

        stale = ti.xcom_pull(task_ids="split", key="stale")
        if stale:  # the split wrote no chunk: nothing was looked up or sent
            print(f"Blip notification run: {stale['reason']}")
            return {"stale_run": 1}
        # A rejected approval succeeds and skips the sends (ApprovalOperator pushes no XCom then).
        states = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=["approve_send", "notify"], run_ids=[ti.run_id]
        )
        run = states.get(ti.run_id, {})
        if run.get("approve_send") == "success" and run.get("notify") == "skipped":
            billable = (ti.xcom_pull(task_ids="preflight") or {}).get("billable", 0)
            print(f"Blip notification run: the send was rejected at approval; {billable} messages not sent")
            return {"rejected": billable}
        # A slice reads every chunk's output in one request (iterating reads one at a time and
        # ends on a 404 that Airflow's task client logs as an error).
        deliveries = deliveries[:]
        text, counts = build_job_report(deliveries)
        print(text)
        waited = _waited_for_window(ti.xcom_pull(task_ids="notify", key="waited_for_window"))
        if waited:
            print(f"\n{waited} recipients waited for the send window (their rows say waited: true)")
        # The same funnel as a page next to the run files, for teams without the UI plugin.
        print(f"\nThe delivery funnel as a page: {write_funnel_html(DAG_ID, deliveries)}")
        check_job_outcome(counts, max_failed_ratio=params["max_failed_ratio"])  # after the report
        return counts  # counts only: no phone number goes to XCom from here

    # Run files hold phone numbers: the jobs of this DAG older than the retention go, whatever
    # happened to this run (the newest job's files stay for its re-runs).
    cleanup = BlipCleanupRunsOperator(
        task_id="cleanup_run_files", retention="{{ params.retention_days }}"
    ).as_teardown()  # runs however the job ended, and leaves the run's state to the job's tasks
    report(delivered.output) >> cleanup


def _waited_for_window(pushed: Any) -> int:
    """Add up the notify tasks' ``waited_for_window`` (one per chunk; none without a window)."""
    if pushed is None or isinstance(pushed, int):
        return pushed or 0
    return sum(n or 0 for n in pushed)


blip_whatsapp_notifications()
