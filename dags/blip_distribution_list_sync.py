"""Keep a distribution list in line with the bot's WhatsApp contacts plus an external file.

Follows Blip's article "How to manage a distribution list to send WhatsApp notifications":
survey every contact that reached the bot on WhatsApp (paged, beyond the 10,000 filtered
limit), verify the numbers of an external file, create the list if needed, then add whoever
is missing and remove whoever should no longer be there.

Every step's rows hold phone numbers or WhatsApp accounts, and XCom is shown in the UI and
kept in Airflow's database: each step writes its rows to a run file (owner-only, removed
after its retention, see docs/privacy.md) and XCom carries only the reference and counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_blip.operators.blip import BlipVerifyContactOperator
from airflow_provider_blip.operators.lists import BlipContactSurveyOperator, BlipSyncListOperator
from airflow_provider_blip.utils.steprows import rows_in_files, rows_of, rows_to_run_file

DAG_ID = "blip_distribution_list_sync"
SAMPLE_MEMBERS = str(Path(__file__).parent / "data" / "blip_sample_list_members.csv")


@dag(
    dag_id=DAG_ID,
    schedule="0 6 * * 1",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["example", "blip"],
    render_template_as_native_obj=True,
    params={
        "list_name": Param("clientes-whatsapp", type="string"),
        "audience": Param(SAMPLE_MEMBERS, type="string", description="CSV of external numbers"),
        "default_region": Param("BR", type="string"),
    },
)
def blip_distribution_list_sync() -> None:
    # [START howto_operator_blip_contact_survey]
    survey = rows_in_files(BlipContactSurveyOperator)(task_id="survey_contacts", source="WhatsApp")
    # [END howto_operator_blip_contact_survey]

    verify = rows_in_files(BlipVerifyContactOperator)(
        task_id="verify_external",
        audience="{{ params.audience }}",
        default_region="{{ params.default_region }}",
        max_failed_ratio=0.5,  # external files are messy: report bad rows, fail only past half
    )

    @task
    def combine(surveyed: dict[str, Any], verified: dict[str, Any], **context: Any) -> dict[str, Any]:
        # One row per account; the contacts of the survey come first.
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for record in [*(rows_of(surveyed) or []), *(rows_of(verified) or [])]:
            account = record.get("account")
            if account and record.get("status") == "verified" and account not in seen:
                seen.add(account)
                rows.append({**record, "row": len(rows) + 1})
        return rows_to_run_file(rows, context)

    # [START howto_operator_blip_list_sync]
    rows_in_files(BlipSyncListOperator)(
        task_id="sync_list",
        list_name="{{ params.list_name }}",
        recipients=combine(survey.output, verify.output),
    )
    # [END howto_operator_blip_list_sync]


blip_distribution_list_sync()
