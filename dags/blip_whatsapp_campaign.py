"""The scheduled WhatsApp notification job on Blip's own bulk route, Active Campaign.

Every day at 09:00 (America/Sao_Paulo) it streams the same audience file as
``blip_whatsapp_notifications`` into chunks (numbers parsed and deduplicated once), then hands
the audience to Blip as a few Active Campaigns of ``campaign_size`` recipients: Blip looks each
number up, sends the template and moves the user to the flow's block itself. A deferrable
wait follows the campaigns until each recipient has settled, writes the per-recipient results
next to the job's other files, and the same report as the chunked job prints what happened
to every recipient, numbers masked, and fails the run when too many failed.

Each campaign is named from the job (this DAG and its logical date, or ``campaign_key``) and
its part number, and looked up before it is created: a retry, a cleared task or a new run of
the same logical date creates no second campaign. Needs a ``blip_default`` connection (see
docs/connection.md) and the bot's Growth plan (Active Campaign). See docs/campaigns.md for
choosing between this route and the per-recipient one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_blip.operators.campaign import DEFAULT_CAMPAIGN_SIZE, BlipCampaignOperator
from airflow_provider_blip.operators.cleanup import BlipCleanupRunsOperator
from airflow_provider_blip.operators.notify import BlipSplitAudienceOperator
from airflow_provider_blip.sensors.campaign import BlipCampaignSensor

DAG_ID = "blip_whatsapp_campaign"
SAMPLE_AUDIENCE = str(Path(__file__).parent / "data" / "blip_sample_audience.csv")


@dag(
    dag_id=DAG_ID,
    schedule="0 9 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["example", "blip"],
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
        "flow_id": Param("notifications-flow", type="string"),
        "state_id": Param("order-update-followup", type="string"),
        "master_state": Param(None, type=["string", "null"], description="Router sub-bot, e.g. x@msging.net"),
        "default_region": Param("BR", type="string"),
        "max_invalid_ratio": Param(
            0.2, type="number", minimum=0, maximum=1, description="Unusable rows tolerated before any send"
        ),
        "max_failed_ratio": Param(
            0.2, type="number", minimum=0, maximum=1, description="Failures tolerated before the run fails"
        ),
        "campaign_size": Param(
            DEFAULT_CAMPAIGN_SIZE, type="integer", minimum=1, description="Recipients per campaign"
        ),
        "campaign_key": Param(
            None, type=["string", "null"], description="The job's identity (default: the logical date)"
        ),
        "retention_days": Param(
            7, type="number", minimum=1, description="Run files of this DAG older than this are removed"
        ),
    },
)
def blip_whatsapp_campaign() -> None:
    split = BlipSplitAudienceOperator(
        task_id="split",
        audience="{{ params.audience }}",
        phone_column="{{ params.phone_column }}",
        default_region="{{ params.default_region }}",
        required_columns="{{ params.body_columns }}",
        max_invalid_ratio="{{ params.max_invalid_ratio }}",
        campaign_key="{{ params.campaign_key }}",
    )

    # [START howto_operator_blip_campaign]
    campaigns = BlipCampaignOperator(
        task_id="campaign",
        chunks=split.output,
        template_name="{{ params.template_name }}",
        language="{{ params.language }}",
        body_columns="{{ params.body_columns }}",
        flow_id="{{ params.flow_id }}",
        state_id="{{ params.state_id }}",
        master_state="{{ params.master_state }}",
        campaign_size="{{ params.campaign_size }}",
    )
    # [END howto_operator_blip_campaign]

    # [START howto_sensor_blip_campaign]
    delivered = BlipCampaignSensor(
        task_id="wait_for_campaigns",
        campaigns=campaigns.output,
        target="received",
        deferrable=True,
        poke_interval=5,
        timeout=2 * 3600,
        max_failed_ratio=1.0,  # the job's policy is applied once, by the report
    )
    # [END howto_sensor_blip_campaign]

    @task(trigger_rule="none_failed")
    def report(deliveries: Any, params: Any = None) -> dict[str, int]:  # Airflow passes both
        from airflow_provider_blip.utils.report import build_job_report
        from airflow_provider_blip.utils.results import check_job_outcome

        text, counts = build_job_report(deliveries)
        print(text)
        check_job_outcome(counts, max_failed_ratio=params["max_failed_ratio"])  # after the report
        return counts  # counts only: no phone number goes to XCom from here

    cleanup = BlipCleanupRunsOperator(
        task_id="cleanup_run_files", retention="{{ params.retention_days }}"
    ).as_teardown()  # runs however the job ended, and leaves the run's state to the job's tasks
    report(delivered.output) >> cleanup


blip_whatsapp_campaign()
