"""The example notification DAG hands its send_window param to every notify task."""

from __future__ import annotations


def test_notify_gets_the_send_window_param(dagbag):
    dag = dagbag.get_dag("blip_whatsapp_notifications")
    assert dag.params["send_window"] is None, "off unless the run asks for it"
    notify = dag.get_task("notify")
    assert notify.partial_kwargs["send_window"] == "{{ params.send_window }}"
