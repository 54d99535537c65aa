"""Verify one WhatsApp number and send it one template, straight through :class:`BlipHook`.

The smallest useful Blip DAG: it needs only a ``blip_default`` connection (for the emulator:
``AIRFLOW_CONN_BLIP_DEFAULT='{"conn_type": "blip", "host": "http://127.0.0.1:8080",
"password": "emulator-key"}'``). Nothing runs at parse time.
"""

from __future__ import annotations

import time
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils.privacy import mask_phone

DAG_ID = "blip_hello_whatsapp"


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Sao_Paulo"),
    catchup=False,
    tags=["example", "blip"],
    params={"phone": "+5531988887777", "template_name": "order_ready", "language": "pt_BR"},
)
def blip_hello_whatsapp() -> None:
    # The account is a phone number: it stays inside this task, out of XCom (shown in the UI)
    # and out of the logs (masked). Only the message id goes on.
    @task
    def verify_and_send(params: Any = None) -> str:  # Airflow passes the run's params
        hook = BlipHook()
        account = hook.get_whatsapp_account(params["phone"])  # may differ from the number
        if account is None:
            raise BlipConfigError("Blip found no WhatsApp account for the number in params.phone")
        print(f"{mask_phone(params['phone'])} is on WhatsApp as {mask_phone(account)}")
        content = {
            "type": "template",
            "template": {
                "name": params["template_name"],
                "language": {"code": params["language"], "policy": "deterministic"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}],
            },
        }
        return hook.send_message(account, "application/json", content)

    @task
    def report(message_id: str) -> str:
        hook = BlipHook()
        events: set[str] = set()
        for _ in range(30):  # a few seconds at most: the emulator delivers in well under one
            events = {n["event"] for n in hook.get_notifications(message_id)}
            if events & {"received", "consumed", "failed"}:
                break
            time.sleep(0.2)
        print(f"message {message_id}: events {sorted(events)}")
        return "failed" if "failed" in events else ("received" if events else "unknown")

    # Airflow passes the upstream value where the DAG passes its XComArg; types cannot say so.
    report(verify_and_send())  # type: ignore[arg-type]


blip_hello_whatsapp()
