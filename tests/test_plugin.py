"""The Blip plugin's registration and the tasks' links to it (the page itself: tests/ui)."""

from __future__ import annotations


def test_the_provider_registers_the_plugin_airflow_can_import():
    import importlib

    from airflow_provider_blip.get_provider_info import get_provider_info

    (entry,) = get_provider_info()["plugins"]
    module, _, name = entry["plugin-class"].rpartition(".")
    plugin = getattr(importlib.import_module(module), name)
    assert plugin.name == entry["name"] == "blip"
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/blip"
    routes = {view["url_route"]: (view["destination"], view["href"]) for view in plugin.external_views}
    assert routes == {"blip": ("nav", "/blip/"), "blip-run": ("dag_run", "/blip/runs/{DAG_ID}/{RUN_ID}")}


def test_every_route_of_the_app_asks_airflow_who_is_calling():
    from airflow_provider_blip.plugins.app import app

    def dependencies(dependant):
        for dep in dependant.dependencies:
            yield dep.call
            yield from dependencies(dep)

    from airflow.api_fastapi.core_api.security import get_user

    routes = [route for route in app.routes if getattr(route, "dependant", None) is not None]
    assert len(routes) == 6
    for route in routes:
        assert get_user in set(dependencies(route.dependant)), route.path


def test_the_notify_and_wait_tasks_link_to_their_runs_page():
    from airflow_provider_blip.operators.notify import BlipNotifyOperator
    from airflow_provider_blip.plugins.links import BlipDeliveryLink, run_page
    from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor

    for operator in (BlipNotifyOperator, BlipMessageStatusSensor):
        assert [type(link) for link in operator.operator_extra_links] == [BlipDeliveryLink]
    url = run_page("my dag", "manual__2026-12-01T09:00:00+00:00", "http://airflow.example/")
    assert url == "http://airflow.example/blip/runs/my%20dag/manual__2026-12-01T09%3A00%3A00%2B00%3A00"
