"""The delivery sensor (poke and deferred) and its read-only trigger."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_blip.exceptions import BlipAuthError, BlipBatchError, BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor
from airflow_provider_blip.triggers.blip import BlipMessageStatusTrigger
from airflow_provider_blip.utils.runfiles import read_jsonl, storage_path, write_jsonl
from tests.triggers.waiting import FakeTime, first_event, read_counts

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
    kwargs.setdefault("poke_interval", 0.05)
    # Airflow's back-off waits whole seconds: the tests poke at a fixed, short interval.
    kwargs.setdefault("exponential_backoff", False)
    return BlipMessageStatusSensor(task_id="wait", messages=messages, timeout=30, **kwargs)


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


@pytest.fixture
def instant(blip_conn):
    """Blip reports every event at once: m-1 is consumed and m-2 failed when first read."""
    blip_conn.configure(
        failing_numbers={BROKEN: (42, "Destination not found")},
        delivery_delays={"accepted": 0, "dispatched": 0, "received": 0, "consumed": 0},
    )
    hook = BlipHook()
    for n, to in enumerate([GOOD, "5511955550004@wa.gw.msging.net"], start=1):
        hook.send_message(to, "text/plain", "hi", envelope_id=f"m-{n}")
    return blip_conn


def sent_row(row, message_id, **fields):
    return {"row": row, "phone": f"+551190000000{row}", "status": "sent", "message_id": message_id, **fields}


def deferred(op, context):
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    trigger = info.value.trigger
    assert isinstance(trigger, BlipMessageStatusTrigger)
    return trigger


def test_deferrable_hands_over_only_what_is_pending_and_resumes(instant, context, monkeypatch):
    rows = [
        sent_row(1, "m-1"),
        sent_row(2, "m-2"),
        sent_row(3, "never-sent"),
        {"row": 4, "status": "invalid_number"},
    ]
    op = sensor(
        rows, deferrable=True, target="consumed", poke_interval=5, exponential_backoff=True, unknown_after=60
    )
    trigger = deferred(op, context)
    assert trigger.message_ids == ["never-sent"]
    assert set(trigger.known) == {"m-1", "m-2"}, "settled at the first poke: handed over, not read again"
    assert (trigger.poll_interval, trigger.max_poll_interval) == (5, 60)

    fake = FakeTime(now=trigger.unknown_deadline - 60).install(monkeypatch)  # the sensor's first read
    payload = first_event(trigger)
    assert fake.sleeps == [5, 10, 20, 40], "75 s after the first read the unknown message is given up"
    assert read_counts(instant) == {"m-1": 1, "m-2": 1, "never-sent": 5}
    assert {r.envelope["method"] for r in instant.records("commands")} == {"get"}, "the trigger only reads"
    results = op.execute_complete(context, json.loads(json.dumps(payload)))
    by_row = {r["row"]: r for r in results}
    assert {row: r["status"] for row, r in by_row.items()} == {
        1: "consumed",
        2: "failed",
        3: "delivery_unknown",
        4: "invalid_number",
    }
    assert by_row[2]["code"] == 42
    assert "unknown_after" in by_row[3]["reason"]


def test_a_deferred_chunk_stores_a_file_reference_and_never_rereads(instant, context, monkeypatch, tmp_path):
    failed = {"code": 42, "description": "Destination not found"}
    source = storage_path(tmp_path / "results" / "try-1.jsonl")
    write_jsonl(
        source,
        [
            sent_row(1, "m-1"),
            sent_row(2, "never-sent"),
            sent_row(3, "read-by-notify", delivery="failed", delivery_reason=failed),
            {"row": 4, "phone": "12", "status": "invalid_number"},
        ],
    )
    op = sensor(
        {"results": str(source)},
        deferrable=True,
        target="consumed",
        poke_interval=5,
        exponential_backoff=True,
        unknown_after=30,
    )
    trigger = deferred(op, context)
    _, kwargs = trigger.serialize()
    stored = json.dumps(kwargs)
    assert kwargs["message_ids"] == []
    assert kwargs["known"] == {}
    assert len(kwargs["results"]) == 1
    for secret in ("m-1", "never-sent", "+5511"):
        assert secret not in stored, "ids and numbers stay in files, out of the trigger's kwargs"
    handoff = list(read_jsonl(storage_path(kwargs["results"][0])))
    assert all("phone" not in line for line in handoff)

    FakeTime(now=trigger.unknown_deadline - 30).install(monkeypatch)
    payload = first_event(BlipMessageStatusTrigger(**json.loads(stored)))
    assert read_counts(instant) == {"m-1": 1, "never-sent": 4}, (
        "5 + 10 + 20 = 35 s: given up at the third round"
    )
    output = op.execute_complete(context, json.loads(json.dumps(payload)))
    assert output["counts"] == {"consumed": 1, "delivery_unknown": 1, "failed": 1, "invalid_number": 1}
    by_row = {r["row"]: r for r in read_jsonl(storage_path(output["delivery"]))}
    assert by_row[3]["status"] == "failed"
    assert (by_row[3]["reason"], by_row[3]["code"]) == ("Destination not found", 42)
    assert "delivery" not in by_row[3], "the final status replaces what the notify task read"


def test_rows_whose_delivery_settled_cost_no_read(blip_conn, context):
    rows = [
        sent_row(1, "a", delivery="consumed"),
        sent_row(2, "b", delivery="failed", delivery_reason={"code": None, "description": "expired"}),
    ]
    results = sensor(rows, target="received").execute(context)
    assert read_counts(blip_conn) == {}
    assert [(r["status"], r.get("reason")) for r in results] == [("consumed", None), ("failed", "expired")]


def test_poke_mode_gives_up_an_unknown_message_then_never_reads_it(blip_conn, context):
    op = sensor(["never-sent"], unknown_after=0.3)
    (result,) = op.execute(context)
    assert result["status"] == "delivery_unknown"
    reads = read_counts(blip_conn)["never-sent"]
    assert reads >= 2, "read once when first seen, and again once the deadline passed"
    assert op.poke(context).is_done
    assert read_counts(blip_conn)["never-sent"] == reads


def test_the_error_type_survives_deferral(emulator, blip_conn, context, monkeypatch):
    from tests.conftest import TEST_KEY, connection_json

    op = sensor(["never-sent"], deferrable=True)
    trigger = deferred(op, context)
    assert trigger.max_poll_interval == trigger.poll_interval, "no back-off asked: a fixed interval"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator).replace(TEST_KEY, "bad-key-9999")
    )
    FakeTime().install(monkeypatch)
    payload = json.loads(json.dumps(first_event(trigger)))
    with pytest.raises(BlipAuthError, match="401") as info:
        op.execute_complete(context, payload)
    assert info.value.http_status == 401
    assert "triggerer" in " ".join(info.value.__notes__)


def test_backoff_defaults():
    op = BlipMessageStatusSensor(task_id="w", messages=[])
    assert op.poke_interval == 5
    assert op.exponential_backoff is True, "poke mode backs off with Airflow's own schedule"
    assert op.max_wait == timedelta(seconds=60)
    assert op.unknown_after == 15 * 60
    assert (
        BlipMessageStatusSensor(task_id="w", messages=[], unknown_after=timedelta(minutes=2)).unknown_after
        == 120
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 4 * 86400}, "3 days"),
        ({"max_failed_ratio": -0.1}, "max_failed_ratio"),
        ({"unknown_after": -1}, "unknown_after"),
        ({"unknown_after": "15m"}, "unknown_after"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlipMessageStatusSensor(task_id="w", messages=[], **kwargs)


def test_bad_target(context, blip_conn):
    with pytest.raises(BlipConfigError, match="target must be one of"):
        sensor(["x"], target="dispatched").execute(context)
