from __future__ import annotations

import asyncio

import pytest

from airflow_provider_blip.exceptions import BlipError
from airflow_provider_blip.notifications.blip import BlipNotifier, send_blip_notification


def test_each_number_is_served_independently(blip_conn, capfd):
    notifier = BlipNotifier(
        to=["+5511987654321", "garbage", "(31) 98888-7777"], template_name="alert", body=["dag_x"]
    )
    notifier.notify({})
    sent = [r.envelope for r in blip_conn.records("messages")]
    assert [m["to"] for m in sent] == ["5511987654321@wa.gw.msging.net", "553188887777@wa.gw.msging.net"]
    assert sent[0]["content"]["template"]["components"][-1]["parameters"] == [
        {"type": "text", "text": "dag_x"}
    ]
    out, err = capfd.readouterr()
    assert "5511987654321" not in out + err


def test_raises_when_nobody_was_reached(blip_conn):
    with pytest.raises(BlipError, match="none of its 1"):
        BlipNotifier(to="garbage", template_name="alert").notify({})


def test_async_notify(blip_conn):
    asyncio.run(BlipNotifier(to="+5511987654321", template_name="alert").async_notify({}))
    assert len(blip_conn.records("messages")) == 1


def test_alias():
    assert send_blip_notification is BlipNotifier
