"""Blip's scheduler through the operators, over real HTTP against the emulator."""

from __future__ import annotations

import datetime
import time

import pendulum
import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.operators.schedule import (
    BlipCancelScheduledMessageOperator,
    BlipScheduleMessageOperator,
)
from tests.conftest import make_context

TO = "5511987654321@wa.gw.msging.net"
DAY = pendulum.datetime(2026, 12, 1, tz="UTC")


def context(logical_date=DAY):
    ctx = make_context()
    ctx["logical_date"] = logical_date
    return ctx


def schedule_op(**kwargs):
    kwargs = {"to": TO, "template_name": "order_update", "body": ["Ana", "A-17"], **kwargs}
    return BlipScheduleMessageOperator(task_id="schedule", **kwargs)


def sets(emulator):
    return [r for r in emulator.records("commands") if r.envelope["uri"] == "/schedules" and r.processed]


def test_a_retry_or_rerun_schedules_once_and_blip_sends_at_when(blip_conn):
    when = pendulum.now("America/Sao_Paulo").add(seconds=1)
    first = schedule_op(when=when).execute(context())
    again = schedule_op(when=when.isoformat()).execute(context())  # a retry, `when` rendered as text
    assert again == first
    assert first["status"] == "scheduled"
    assert first["when"].endswith("Z"), "sent in UTC"
    assert len(sets(blip_conn)) == 1
    resource = sets(blip_conn)[0].envelope["resource"]
    assert resource["message"]["content"]["template"]["name"] == "order_update"
    other_day = schedule_op(when=when).execute(context(pendulum.datetime(2026, 12, 2, tz="UTC")))
    assert other_day["message_id"] != first["message_id"], "another job, another schedule"
    hook = BlipHook()
    deadline = time.monotonic() + 10
    while hook.get_schedule(first["message_id"]).status.value == "scheduled" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hook.get_schedule(first["message_id"]).status.value == "executed"
    assert first["message_id"] in [m["id"] for m in blip_conn.messages()]


def test_cancel(blip_conn):
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)
    made = schedule_op(
        when=when, list_name="clientes", template_name=None, body=None, to=None, text="oi"
    ).execute(context())
    assert sets(blip_conn)[0].envelope["resource"]["message"]["to"] == "clientes@broadcast.msging.net"
    status = BlipCancelScheduledMessageOperator(task_id="cancel", message_id=made["message_id"]).execute(
        context()
    )
    assert status == "canceled"
    assert blip_conn.messages() == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        pytest.param({"when": datetime.datetime(2030, 1, 1)}, "timezone-aware", id="naive"),
        pytest.param({"when": "2030-01-01 09:00"}, "timezone-aware", id="naive-text"),
        pytest.param({"when": "soon"}, "ISO 8601", id="not-a-time"),
        pytest.param({"when": pendulum.datetime(2020, 1, 1, tz="UTC")}, "future", id="past"),
        pytest.param({"list_name": "x"}, "exactly one", id="both-destinations"),
        pytest.param({"text": "oi"}, "not both", id="template-and-text"),
    ],
)
def test_what_can_be_checked_is_checked_before_any_request(blip_conn, kwargs, words):
    kwargs.setdefault("when", pendulum.now("UTC").add(hours=1))
    with pytest.raises(BlipConfigError, match=words):
        schedule_op(**kwargs).execute(context())
    assert blip_conn.records() == []
