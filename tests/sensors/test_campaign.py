"""The campaign sensor (poke and deferred) and its read-only trigger, against the emulator."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_blip.exceptions import BlipAuthError, BlipBatchError
from airflow_provider_blip.sensors.campaign import BlipCampaignSensor
from airflow_provider_blip.triggers import campaign as trigger_module
from airflow_provider_blip.triggers.campaign import BlipCampaignTrigger
from airflow_provider_blip.utils import runfiles
from airflow_provider_blip.utils.report import build_job_report
from tests.conftest import TEST_KEY, connection_json, make_context
from tests.operators.test_campaign import campaign_op, run
from tests.operators.test_notify import audience, split
from tests.triggers.waiting import FakeTime, first_event

BROKEN = "+5511900000002"  # row 3 of audience(): its handset fails the delivery


def make_parts(emulator, tmp_path, dispatch_delay=0.05):
    emulator.configure(
        campaign_dispatch_delay=dispatch_delay,
        failing_numbers={BROKEN: (42, "Destination not found")},
        delivery_delays={"accepted": 0.0, "dispatched": 0.01, "received": 0.02, "consumed": 0.03},
    )
    rows = audience(5) + [{"phone": "12", "name": "bad"}]
    return run(campaign_op(split(tmp_path, rows), campaign_size=2))


@pytest.fixture
def campaigns(blip_conn, tmp_path):
    return make_parts(blip_conn, tmp_path)


def sensor(parts, **kwargs):
    kwargs = {"max_failed_ratio": 1.0, "poke_interval": 0.05, "timeout": 30, **kwargs}
    return BlipCampaignSensor(task_id="wait", campaigns=parts, **kwargs)


def delivered(outputs):
    rows = [r for o in outputs for r in runfiles.read_jsonl(runfiles.storage_path(o["delivery"]))]
    return {r["row"]: r for r in rows}


def test_poke_mode_writes_the_same_rows_as_the_chunked_job(campaigns, context):
    outputs = sensor(campaigns).execute(context)
    assert len(outputs) == 3
    rows = delivered(outputs)
    assert rows[1]["status"] in ("received", "consumed")
    assert rows[1]["message_id"]
    assert (rows[3]["status"], rows[3]["code"], rows[3]["reason"]) == ("failed", 42, "Destination not found")
    assert rows[6]["status"] == "invalid_number", "rows never sent pass through"
    assert sum(sum(o["counts"].values()) for o in outputs) == 6
    text, counts = build_job_report(outputs)
    assert counts["failed"] == 1
    assert "+5511900000002" not in text, "the report masks numbers"
    assert "+55" not in json.dumps(outputs)


def test_the_failure_policy_counts_recipients_handed_to_blip(campaigns, context):
    with pytest.raises(BlipBatchError, match="1 of 5"):
        sensor(campaigns, max_failed_ratio=0.1).execute(context)


def test_deferred_the_trigger_only_reads_and_the_sensor_writes(blip_conn, tmp_path, monkeypatch):
    # Dispatched half a second after creation: still Processing at the sensor's first poke.
    campaigns = make_parts(blip_conn, tmp_path, dispatch_delay=0.5)
    op = sensor(campaigns, deferrable=True, poke_interval=5, max_wait=20)
    ctx = make_context()
    mark = len(blip_conn.records())
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, BlipCampaignTrigger)
    classpath, kwargs = trigger.serialize()
    rebuilt = BlipCampaignTrigger(**json.loads(json.dumps(kwargs)))  # as the triggerer stores it
    assert classpath == "airflow_provider_blip.triggers.campaign.BlipCampaignTrigger"
    assert rebuilt.campaign_ids == [p["campaign_id"] for p in campaigns]
    fake = FakeTime()
    real_sleep = trigger_module.sleep

    async def sleep_for_real(seconds):  # the emulator's dispatch runs on real time
        fake.sleeps.append(seconds)
        await real_sleep(0.05)

    monkeypatch.setattr(trigger_module, "sleep", sleep_for_real)
    event = json.loads(json.dumps(first_event(rebuilt)))
    assert event["status"] == "success"
    assert set(event["campaigns"].values()) == {"Sent"}
    assert fake.sleeps[:2] == [5, 10], "back-off between rounds"
    methods = {r.envelope["method"] for r in blip_conn.records("commands")[mark:]}
    assert methods == {"get"}, "the wait only reads"
    outputs = op.execute_complete(ctx, event)
    rows = delivered(outputs)
    assert rows[3]["status"] == "failed"
    assert rows[2]["status"] in ("received", "consumed")


def test_an_error_in_the_trigger_is_raised_on_the_worker_with_its_type(campaigns, blip_conn, monkeypatch):
    trigger = BlipCampaignTrigger(
        campaign_ids=[campaigns[0]["campaign_id"]], target="received", blip_conn_id="blip_default", deadline=0
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(blip_conn).replace(TEST_KEY, "bad-key-9999")
    )
    monkeypatch.setattr(trigger_module, "sleep", FakeTime().sleep)
    event = json.loads(json.dumps(first_event(trigger)))
    assert event["status"] == "error"
    with pytest.raises(BlipAuthError):
        sensor(campaigns).execute_complete(make_context(), event)


def test_a_canceled_campaign_leaves_its_recipients_not_sent(blip_conn, tmp_path, context):
    blip_conn.configure(campaign_dispatch_delay=60)
    parts = run(campaign_op(split(tmp_path, audience(2))))
    from airflow_provider_blip.hooks.blip import BlipHook

    BlipHook().cancel_campaign(parts[0]["campaign_id"])
    rows = delivered(sensor(parts).execute(context))
    assert {r["status"] for r in rows.values()} == {"not_sent"}


def test_past_the_deadline_silent_recipients_are_delivery_unknown(blip_conn, tmp_path, context):
    # Delivered in an hour: at the deadline the report says only "accepted"/"dispatched".
    blip_conn.configure(
        campaign_dispatch_delay=0.0,
        delivery_delays={"accepted": 0.0, "dispatched": 0.0, "received": 3600, "consumed": 3600},
    )
    parts = run(campaign_op(split(tmp_path, audience(2))))
    rows = delivered(sensor(parts, unknown_after=0).execute(context))
    assert {r["status"] for r in rows.values()} == {"dispatched"}
    assert all("deadline" in r["reason"] for r in rows.values())
