"""What Airflow reads about this provider (the ``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_provider_blip import __version__


def _number_field(
    label: str, description: str, minimum: float = 0, maximum: float | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["number", "null"], "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"label": label, "description": description, "schema": schema}


# Declared here rather than through hook methods: on a plain Airflow 3.3 install the hook-method
# form is dropped (no flask_appbuilder/wtforms), the declarative one is not.
CONN_FIELDS: dict[str, Any] = {
    "timeout": _number_field("Timeout (seconds)", "Seconds to wait for Blip's answer. Default 30."),
    "max_retries": _number_field(
        "Max retries", "Retries of 429, 5xx, timeouts and dropped connections. Default 5."
    ),
    "concurrency": _number_field("Concurrency", "HTTP connections kept open for parallel sends.", 1),
    "messages_per_second": _number_field(
        "Messages per second", "Your plan's message throughput (paid plan: 50; free: 3). 0 = no limit."
    ),
    "commands_per_second": _number_field(
        "Commands per second", "Your plan's command throughput (paid plan: 200; free: 48). 0 = no limit."
    ),
    "notifications_per_second": _number_field(
        "Notifications per second", "Your plan's notification throughput (paid: 100; free: 6). 0 = no limit."
    ),
    "parallel_tasks": _number_field(
        "Parallel tasks",
        "How many tasks use this bot at once (give them an Airflow pool with as many slots): "
        "each paces itself at the rates above divided by this. Default 1.",
        1,
    ),
    "rate_margin": _number_field(
        "Rate margin",
        "The fraction of the plan's rates to pace at, so that network jitter never puts a second "
        "over the plan as Blip counts it. 0.5 to 1.0; default 0.95.",
        0.5,
        1.0,
    ),
    "status_read_share": _number_field(
        "Status read share",
        "The part of the commands rate that delivery-status reads (the sensor and its trigger) "
        "may use, leaving the rest to sends. Above 0, up to 1; default 0.5.",
        0.01,
        1.0,
    ),
    "proxy": {
        "label": "Proxy",
        "description": "Proxy URL for requests to Blip, e.g. http://proxy.internal:3128.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager."""
    return {
        "package-name": "airflow-provider-blip",
        "name": "Blip",
        "description": "`Blip (Take Blip) <https://www.blip.ai/>`__: WhatsApp notifications, "
        "contexts and distribution lists.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Blip",
                "external-doc-url": "https://docs.blip.ai/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Blip", "python-modules": ["airflow_provider_blip.hooks.blip"]}],
        "operators": [
            {
                "integration-name": "Blip",
                "python-modules": [
                    "airflow_provider_blip.operators.blip",
                    "airflow_provider_blip.operators.campaign",
                    "airflow_provider_blip.operators.cleanup",
                    "airflow_provider_blip.operators.lists",
                    "airflow_provider_blip.operators.notify",
                    "airflow_provider_blip.operators.preflight",
                    "airflow_provider_blip.operators.schedule",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Blip",
                "python-modules": [
                    "airflow_provider_blip.sensors.blip",
                    "airflow_provider_blip.sensors.campaign",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Blip",
                "python-modules": [
                    "airflow_provider_blip.triggers.blip",
                    "airflow_provider_blip.triggers.campaign",
                ],
            }
        ],
        "notifications": ["airflow_provider_blip.notifications.blip.BlipNotifier"],
        # The Blip page of the UI (issue 14): the api-server mounts its app at /blip.
        "plugins": [{"name": "blip", "plugin-class": "airflow_provider_blip.plugins.blip.BlipPlugin"}],
        "connection-types": [
            {
                "connection-type": "blip",
                "hook-class-name": "airflow_provider_blip.hooks.blip.BlipHook",
                "hook-name": "Blip",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema", "extra"],
                    "relabeling": {
                        "password": "Bot key",
                        "login": "Organization / contract id",
                        "host": "Base URL",
                    },
                    "placeholders": {
                        "password": "Key bXlib3Q6c2VjcmV0 (the portal's Authorization value)",
                        "login": "optional: myorg, giving https://myorg.http.msging.net",
                        "host": "optional: full base URL, e.g. http://127.0.0.1:8080 for the emulator",
                    },
                },
            }
        ],
    }
