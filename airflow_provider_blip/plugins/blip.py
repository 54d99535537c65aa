"""The Blip plugin: registered by the provider (``get_provider_info()["plugins"]``).

It mounts the page's app at ``/blip`` in the api-server and adds two entries to the UI: a
"Blip" page in the Browse menu (every job) and a "Blip delivery" tab on each DAG run.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_blip.plugins.app import app
from airflow_provider_blip.plugins.links import URL_PREFIX


class BlipPlugin(AirflowPlugin):
    """The Blip page, its JSON endpoints and its places in the Airflow UI."""

    name = "blip"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Blip delivery"}]
    external_views = [
        {
            "name": "Blip",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "blip",
        },
        {
            "name": "Blip delivery",
            "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "blip-run",
        },
    ]
