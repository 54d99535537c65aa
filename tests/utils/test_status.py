from __future__ import annotations

import itertools

import pytest

from airflow_provider_blip.utils.status import TARGETS, MessageStatus, reduce_events

S = MessageStatus
MSG = "7d7c2f4e-0000-4000-8000-000000000001"


def note(event: str, hop: str = "postmaster@msging.net/server1", **extra) -> dict:
    return {"id": MSG, "from": hop, "to": "bot@msging.net", "event": event, **extra}


FAILED_42 = note("failed", reason={"code": 42, "description": "Destination not found"})


def test_values_and_targets():
    assert [s.value for s in S] == ["accepted", "dispatched", "received", "consumed", "failed", "unknown"]
    assert TARGETS == (S.ACCEPTED, S.RECEIVED, S.CONSUMED)
    assert S("received") is S.RECEIVED
    assert S.RECEIVED == "received"


def test_rank_ladder():
    ladder = [S.UNKNOWN, S.ACCEPTED, S.DISPATCHED, S.RECEIVED, S.CONSUMED]
    assert [s.rank for s in ladder] == [0, 1, 2, 3, 4]
    assert S.FAILED.rank > S.CONSUMED.rank  # failed wins a reduction


@pytest.mark.parametrize(
    ("status", "target", "reached"),
    [
        (S.ACCEPTED, S.ACCEPTED, True),
        (S.DISPATCHED, S.ACCEPTED, True),
        (S.RECEIVED, S.ACCEPTED, True),
        (S.CONSUMED, S.RECEIVED, True),
        (S.CONSUMED, S.CONSUMED, True),
        (S.ACCEPTED, S.RECEIVED, False),
        (S.DISPATCHED, S.RECEIVED, False),
        (S.RECEIVED, S.CONSUMED, False),
        (S.UNKNOWN, S.ACCEPTED, False),
        (S.UNKNOWN, S.UNKNOWN, True),
        (S.FAILED, S.ACCEPTED, False),
        (S.FAILED, S.CONSUMED, False),
        (S.FAILED, S.UNKNOWN, False),
        (S.FAILED, S.FAILED, True),
        (S.CONSUMED, S.FAILED, False),
        (S.UNKNOWN, S.FAILED, False),
    ],
    ids=lambda v: str(v) if isinstance(v, S) else None,
)
def test_reached(status, target, reached):
    assert status.reached(target) is reached


def test_reached_accepts_a_plain_string():
    assert S.RECEIVED.reached("accepted")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], (S.UNKNOWN, None), id="none"),
        pytest.param([note("accepted")], (S.ACCEPTED, None), id="accepted"),
        pytest.param(
            [note("accepted"), note("dispatched"), note("received")], (S.RECEIVED, None), id="in-order"
        ),
        pytest.param(
            [note("consumed"), note("accepted"), note("received"), note("dispatched")],
            (S.CONSUMED, None),
            id="out-of-order",
        ),
        pytest.param(
            [
                note("accepted", "postmaster@msging.net/tunnel"),
                note("accepted", "postmaster@msging.net/router"),
                note("dispatched", "postmaster@msging.net/router"),
                note("dispatched", "postmaster@wa.gw.msging.net"),
                note("dispatched", "postmaster@wa.gw.msging.net"),
            ],
            (S.DISPATCHED, None),
            id="hops-and-duplicates",
        ),
        pytest.param(
            [note("accepted"), note("dispatched"), FAILED_42],
            (S.FAILED, {"code": 42, "description": "Destination not found"}),
            id="failed-with-reason",
        ),
        pytest.param(
            [FAILED_42, note("received"), note("consumed")],
            (S.FAILED, {"code": 42, "description": "Destination not found"}),
            id="failed-wins-over-consumed",
        ),
        pytest.param(
            [note("failed"), FAILED_42],
            (S.FAILED, {"code": 42, "description": "Destination not found"}),
            id="prefers-reason-with-code",
        ),
        pytest.param(
            [FAILED_42, note("failed", reason={"code": 11, "description": "other hop"})],
            (S.FAILED, {"code": 42, "description": "Destination not found"}),
            id="first-coded-reason",
        ),
        pytest.param(
            [note("failed")],
            (S.FAILED, {"code": None, "description": "no reason given"}),
            id="failed-no-reason",
        ),
        pytest.param(
            [note("failed", reason={"code": "61", "description": "Invalid"})],
            (S.FAILED, {"code": 61, "description": "Invalid"}),
            id="string-code",
        ),
        pytest.param(
            [note("failed", reason={"code": "x", "description": "odd"})],
            (S.FAILED, {"code": None, "description": "odd"}),
            id="unreadable-code",
        ),
        pytest.param(
            [note("deleted"), note("validated"), note("authorized"), note("something_new"), {"id": MSG}],
            (S.UNKNOWN, None),
            id="only-unknown-events",
        ),
        pytest.param(
            [note("authorized"), note("received"), note("deleted")], (S.RECEIVED, None), id="unknown-ignored"
        ),
        pytest.param([note("Received "), note("ACCEPTED")], (S.RECEIVED, None), id="case-and-spaces"),
        pytest.param(
            [{"id": MSG, "direction": "sent", "status": "consumed"}], (S.CONSUMED, None), id="thread-item"
        ),
        pytest.param([note("unknown")], (S.UNKNOWN, None), id="literal-unknown-event"),
    ],
)
def test_reduce_events(events, expected):
    assert reduce_events(events) == expected


def test_reduce_events_ignores_order():
    events = [note("accepted"), note("dispatched"), note("received"), note("received"), note("deleted")]
    results = {reduce_events(p) for p in itertools.permutations(events)}
    assert results == {(S.RECEIVED, None)}


def test_reduce_events_accepts_a_generator():
    assert reduce_events(note(e) for e in ("accepted", "consumed")) == (S.CONSUMED, None)
