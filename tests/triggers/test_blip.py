"""The delivery trigger: its back-off, unknown messages settled, reads counted by the emulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_blip.exceptions import (
    BlipAuthError,
    BlipCommandError,
    BlipConfigError,
    BlipError,
    BlipNotFoundError,
    BlipRateLimitError,
    BlipTimeoutError,
)
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.triggers.blip import (
    BlipMessageStatusTrigger,
    error_event,
    next_interval,
    reported_error,
)
from airflow_provider_blip.utils.runfiles import storage_path, write_jsonl
from tests.triggers.waiting import FakeTime, first_event, read_counts

GOOD = "5511987654321@wa.gw.msging.net"


@pytest.fixture
def fake_time(monkeypatch):
    return FakeTime().install(monkeypatch)


@pytest.fixture
def delivered(blip_conn):
    """Blip reports every event at once: a sent message is consumed when first read."""
    blip_conn.configure(delivery_delays={"accepted": 0, "dispatched": 0, "received": 0, "consumed": 0})
    hook = BlipHook()
    return [hook.send_message(GOOD, "text/plain", "hi", envelope_id=f"m-{n}") for n in (1, 2)]


def trigger(fake_time, *, unknown_after=300.0, **kwargs):
    kwargs.setdefault("target", "consumed")
    return BlipMessageStatusTrigger(
        blip_conn_id="blip_default", unknown_deadline=fake_time.now + unknown_after, **kwargs
    )


def test_the_wait_doubles_from_poll_interval_up_to_its_maximum():
    waits = [5.0]
    for _ in range(6):
        waits.append(next_interval(waits[-1], 60.0))
    assert waits == [5, 10, 20, 40, 60, 60, 60]
    assert next_interval(5.0, 5.0) == 5.0, "a maximum equal to the start is a fixed interval"
    assert next_interval(30.0, 10.0) == 30.0, "the wait never falls below where it started"


def test_an_unknown_message_is_polled_on_the_back_off_schedule_then_settled(blip_conn, fake_time):
    payload = first_event(trigger(fake_time, message_ids=["never-sent"]))
    # 5 + 10 + 20 + 40 + 60 + 60 + 60 = 255 s: still before the 300 s deadline; 315 s: past it.
    assert fake_time.sleeps == [5, 10, 20, 40, 60, 60, 60, 60]
    assert read_counts(blip_conn) == {"never-sent": 8}, "one read per round, none after it settled"
    status, reason = payload["statuses"]["never-sent"]
    assert status == "delivery_unknown"
    assert "unknown_after" in reason["description"]


def test_a_fixed_interval_when_the_maximum_is_the_start(blip_conn, fake_time):
    first_event(
        trigger(fake_time, message_ids=["never-sent"], poll_interval=7, max_poll_interval=7, unknown_after=30)
    )
    assert fake_time.sleeps == [7, 7, 7, 7, 7]


def test_messages_a_restarted_server_forgot_settle_by_the_same_deadline_after_a_triggerer_restart(
    blip_conn, delivered, fake_time
):
    blip_conn.reset()  # the server forgot every message it was sent
    before = trigger(fake_time, message_ids=delivered, unknown_after=100)
    path, kwargs = before.serialize()
    fake_time.now += 90  # the triggerer was down, then rebuilt the trigger from its kwargs
    after = BlipMessageStatusTrigger(**json.loads(json.dumps(kwargs)))
    assert after.unknown_deadline == before.unknown_deadline
    payload = first_event(after)
    assert fake_time.sleeps == [5, 10], "read at 95 s (still unknown), at 105 s (past the deadline)"
    assert read_counts(blip_conn) == {"m-1": 2, "m-2": 2}
    assert {m: s for m, (s, _) in payload["statuses"].items()} == {
        "m-1": "delivery_unknown",
        "m-2": "delivery_unknown",
    }


def test_a_settled_message_is_never_read_again(delivered, fake_time, blip_conn):
    sent = len(blip_conn.records("messages"))
    payload = first_event(trigger(fake_time, message_ids=[*delivered, "never-sent"], unknown_after=30))
    assert fake_time.sleeps == [5, 10, 20]
    assert read_counts(blip_conn) == {"m-1": 1, "m-2": 1, "never-sent": 3}
    assert payload["statuses"]["m-1"] == ["consumed", None] or payload["statuses"]["m-1"] == (
        "consumed",
        None,
    )
    assert len(blip_conn.records("messages")) == sent, "the trigger never sends"
    assert {r.envelope["method"] for r in blip_conn.records("commands")} == {"get"}


def test_known_statuses_are_handed_back_unread(delivered, fake_time, blip_conn):
    known = {"m-1": ["failed", {"code": 42, "description": "Destination not found"}]}
    payload = first_event(trigger(fake_time, message_ids=["m-2"], known=known))
    assert read_counts(blip_conn) == {"m-2": 1}
    assert payload["statuses"]["m-1"] == ("failed", {"code": 42, "description": "Destination not found"})
    assert set(payload["statuses"]) == {"m-1", "m-2"}


def results_file(tmp_path, rows):
    path = storage_path(tmp_path / "results" / "try-1.jsonl")
    write_jsonl(path, rows)
    return str(path)


def test_rows_whose_delivery_settled_cost_no_read(delivered, fake_time, blip_conn, tmp_path):
    failed = {"code": 42, "description": "Destination not found"}
    uri = results_file(
        tmp_path,
        [
            {"row": 1, "phone": "+1", "status": "sent", "message_id": "read-done", "delivery": "consumed"},
            {
                "row": 2,
                "phone": "+2",
                "status": "sent",
                "message_id": "read-failed",
                "delivery": "failed",
                "delivery_reason": failed,
            },
            {"row": 3, "phone": "+3", "status": "context_set", "message_id": "m-1", "delivery": "accepted"},
            {"row": 4, "phone": "+4", "status": "sent", "message_id": "m-2"},
            {"row": 5, "phone": "+5", "status": "invalid_number"},
        ],
    )
    payload = first_event(trigger(fake_time, results=[uri]))
    assert read_counts(blip_conn) == {"m-1": 1, "m-2": 1}, "accepted is not consumed yet: read"
    assert payload["statuses"] == {
        "read-done": ("consumed", None),
        "read-failed": ("failed", failed),
        "m-1": ("consumed", None),
        "m-2": ("consumed", None),
    }


def test_a_row_with_a_bad_delivery_is_reported_as_a_config_error(blip_conn, fake_time, tmp_path):
    uri = results_file(tmp_path, [{"row": 7, "status": "sent", "message_id": "m", "delivery": "lost"}])
    payload = first_event(trigger(fake_time, results=[uri]))
    assert payload["error_type"] == "BlipConfigError"
    assert "row 7" in payload["message"]
    assert "'delivery'" in payload["message"]
    assert isinstance(reported_error(payload), BlipConfigError)
    assert read_counts(blip_conn) == {}


def test_every_read_goes_through_get_message_statuses(delivered, fake_time, blip_conn, monkeypatch):
    asked: list[str] = []
    original = BlipHook.get_message_statuses

    def spy(self, message_ids):
        message_ids = list(message_ids)
        asked.extend(message_ids)
        return original(self, message_ids)

    monkeypatch.setattr(BlipHook, "get_message_statuses", spy)
    mark = len(blip_conn.records("commands"))
    first_event(trigger(fake_time, message_ids=[*delivered, "never-sent"], unknown_after=30))
    assert sorted(asked) == sorted(read_counts(blip_conn, mark).elements())
    assert len(asked) == 5


def test_trigger_serializes_every_argument():
    trigger = BlipMessageStatusTrigger(
        message_ids=["a"],
        target="received",
        blip_conn_id="c",
        poll_interval=7,
        max_poll_interval=70,
        results=["file:///r.jsonl"],
        known={"b": ["consumed", None]},
        unknown_deadline=1_800_000_900.0,
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_blip.triggers.blip.BlipMessageStatusTrigger"
    assert kwargs == {
        "message_ids": ["a"],
        "target": "received",
        "blip_conn_id": "c",
        "poll_interval": 7,
        "max_poll_interval": 70,
        "results": ["file:///r.jsonl"],
        "known": {"b": ["consumed", None]},
        "unknown_deadline": 1_800_000_900.0,
    }
    assert BlipMessageStatusTrigger(**json.loads(json.dumps(kwargs))).serialize() == (path, kwargs)


def test_the_default_deadline_is_fixed_when_the_trigger_is_built(fake_time):
    built = BlipMessageStatusTrigger(message_ids=["a"], target="received", blip_conn_id="c")
    assert built.unknown_deadline == fake_time.now + 15 * 60
    fake_time.now += 600
    _, kwargs = built.serialize()
    assert BlipMessageStatusTrigger(**kwargs).unknown_deadline == built.unknown_deadline


def test_trigger_reports_the_error_type_and_its_fields(emulator, monkeypatch, fake_time):
    from tests.conftest import TEST_KEY, connection_json

    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator).replace(TEST_KEY, "bad-key-9999")
    )
    payload = first_event(trigger(fake_time, message_ids=["a"], target="received"))
    assert payload["status"] == "error"
    assert payload["error_type"] == "BlipAuthError"
    error = reported_error(json.loads(json.dumps(payload)))  # as stored between the two processes
    assert type(error) is BlipAuthError
    assert error.http_status == 401
    assert str(error) == payload["message"]
    assert "bad-key-9999" not in json.dumps(payload)


@pytest.mark.parametrize(
    "error",
    [
        BlipRateLimitError(429, path="/commands", envelope_id="c-1", retry_after=2.5),
        BlipNotFoundError(code=67, description="no such thing", method="get", uri="/x", envelope_id="c-2"),
        BlipTimeoutError("timed out after 10s", uri="/commands"),
        BlipConfigError("connection blip_default: no host"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_error_survives_the_event_with_its_class_and_fields(error):
    rebuilt = reported_error(json.loads(json.dumps(error_event(error))))
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    assert rebuilt.retryable == error.retryable
    plain = {k: v for k, v in vars(error).items() if not isinstance(v, dict)}
    assert vars(rebuilt) == plain


def test_an_error_event_keeps_no_number_and_no_response():
    error = BlipCommandError(
        code=1,
        description="cannot reach 5511987654321",
        method="get",
        uri="/x",
        envelope_id="c-3",
        response={"reason": {"description": "cannot reach 5511987654321"}},
    )
    event = json.dumps(error_event(error))
    assert "5511987654321" not in event
    assert "response" not in json.loads(event)["error"]


@pytest.mark.parametrize(
    "event",
    [
        {"status": "error", "error_type": "NoSuchError", "message": "boom"},
        {"status": "error", "error_type": "AirflowException", "message": "boom"},
        {"status": "error", "error_type": "mask_identities", "message": "boom"},
        {"status": "error", "message": "boom"},
    ],
)
def test_an_unknown_error_type_gives_the_base_error(event):
    rebuilt = reported_error(event)
    assert type(rebuilt) is BlipError
    assert str(rebuilt) == "boom"
