"""The delivery sensor (poke and deferred) and its read-only trigger."""

from __future__ import annotations

import asyncio

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_blip.exceptions import BlipBatchError, BlipError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor
from airflow_provider_blip.triggers.blip import BlipMessageStatusTrigger

GOOD = "5511987654321@wa.gw.msging.net"
BROKEN = "+5511955550004"


@pytest.fixture
def sent(blip_conn):
    blip_conn.configure(
        failing_numbers={BROKEN: (42, "Destination not found")},
        delivery_delays={"accepted": 0.0, "dispatched": 0.02, "received": 0.05, "consumed": 0.1},
    )
    hook = BlipHook()
    rows = []
    for row, to in enumerate([GOOD, "5511955550004@wa.gw.msging.net"], start=1):
        mid = hook.send_message(to, "text/plain", "hi", envelope_id=f"m-{row}")
        rows.append(
            {"row": row, "phone": "+" + to.split("@")[0], "account": to, "status": "sent", "message_id": mid}
        )
    rows.append({"row": 3, "phone": "1", "status": "invalid_number"})
    return rows


def sensor(messages, **kwargs):
    kwargs.setdefault("max_failed_ratio", 1.0)
    return BlipMessageStatusSensor(
        task_id="wait", messages=messages, poke_interval=0.05, timeout=30, **kwargs
    )


def test_poke_mode_reports_every_final_status(sent, context):
    results = sensor(sent, target="received").execute(context)
    by_row = {r["row"]: r for r in results}
    assert by_row[1]["status"] in ("received", "consumed")
    assert by_row[2]["status"] == "failed"
    assert by_row[2]["code"] == 42
    assert by_row[2]["reason"] == "Destination not found"
    assert by_row[3]["status"] == "invalid_number", "rows never sent pass through"


def test_failure_ratio_counts_only_followed_messages(sent, context):
    with pytest.raises(BlipBatchError, match="1 of 2"):
        sensor(sent, max_failed_ratio=0.4).execute(context)


def test_bare_message_ids(sent, context):
    results = sensor(["m-1"], target="consumed").execute(context)
    assert results == [{"row": 1, "phone": "", "message_id": "m-1", "status": "consumed"}]


def test_deferrable_defers_to_a_read_only_trigger_and_resumes(sent, context, blip_conn):
    op = sensor(sent, deferrable=True, target="consumed")
    before = len(blip_conn.records("messages"))
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    trigger = info.value.trigger
    assert isinstance(trigger, BlipMessageStatusTrigger)
    assert trigger.message_ids == ["m-1", "m-2"]

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "success"
    assert len(blip_conn.records("messages")) == before, "the trigger never sends"
    methods = {r.envelope["method"] for r in blip_conn.records("commands")}
    assert methods == {"get"}
    results = op.execute_complete(context, payload)
    assert {r["row"]: r["status"] for r in results} == {1: "consumed", 2: "failed", 3: "invalid_number"}


def test_trigger_serializes_every_argument():
    trigger = BlipMessageStatusTrigger(
        message_ids=["a"], target="received", blip_conn_id="c", poll_interval=7, results=["file:///r.jsonl"]
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_blip.triggers.blip.BlipMessageStatusTrigger"
    assert kwargs == {
        "message_ids": ["a"],
        "target": "received",
        "blip_conn_id": "c",
        "poll_interval": 7,
        "results": ["file:///r.jsonl"],
    }
    assert BlipMessageStatusTrigger(**kwargs).serialize() == (path, kwargs)


def test_trigger_reports_errors_as_events(emulator, monkeypatch):
    from tests.conftest import TEST_KEY, connection_json

    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator).replace(TEST_KEY, "bad-key-9999")
    )
    trigger = BlipMessageStatusTrigger(message_ids=["a"], target="received", blip_conn_id="blip_default")

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "error"
    assert payload["error_type"] == "BlipAuthError"
    with pytest.raises(BlipError, match="401"):
        sensor(["a"]).execute_complete({}, payload)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"timeout": 4 * 86400}, "3 days"), ({"max_failed_ratio": -0.1}, "max_failed_ratio")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlipMessageStatusSensor(task_id="w", messages=[], **kwargs)


def test_bad_target(context, blip_conn):
    with pytest.raises(ValueError, match="target must be one of"):
        sensor(["x"], target="dispatched").execute(context)
