from __future__ import annotations

import json
import re

import pytest

from airflow_provider_blip.exceptions import BlipBatchError
from airflow_provider_blip.utils.results import (
    FAILED_STATUSES,
    RecipientStatus,
    check_failure_ratio,
    masked_table,
    result,
    summarize,
)

RS = RecipientStatus


# --- statuses ----------------------------------------------------------------------------------


def test_status_values():
    assert {s.value for s in RS} == {
        "verified", "invalid_number", "duplicate", "not_on_whatsapp", "lookup_failed", "invalid_values",
        "sent", "send_failed", "context_set", "context_failed", "added", "removed", "list_failed", "skipped",
        "accepted", "dispatched", "received", "consumed", "failed", "unknown",
        "recently_sent", "not_sent", "delivery_unknown",
    }  # fmt: skip


def test_failed_statuses():
    assert {s.value for s in FAILED_STATUSES} == {
        "invalid_number", "not_on_whatsapp", "lookup_failed", "invalid_values",
        "send_failed", "context_failed", "list_failed", "failed",
    }  # fmt: skip
    assert RS.DUPLICATE not in FAILED_STATUSES
    assert RS.SKIPPED not in FAILED_STATUSES
    assert "send_failed" in FAILED_STATUSES  # plain strings from XCom match too


# --- result ------------------------------------------------------------------------------------


def test_result_minimal():
    assert result(row=1, phone="+5531988887777", status=RS.SENT) == {
        "row": 1,
        "phone": "+5531988887777",
        "status": "sent",
    }


def test_result_with_everything_drops_none():
    entry = result(
        row=3,
        phone="+5531988887777",
        status="send_failed",
        reason="Destination not found",
        code=42,
        account="5531988887777@wa.gw.msging.net",
        message_id="abc",
        values={"name": "Ana"},
        flow=None,
    )
    assert entry == {
        "row": 3,
        "phone": "+5531988887777",
        "status": "send_failed",
        "reason": "Destination not found",
        "code": 42,
        "account": "5531988887777@wa.gw.msging.net",
        "message_id": "abc",
        "values": {"name": "Ana"},
    }


def test_result_keeps_falsy_values_that_are_not_none():
    assert result(row=1, phone="x", status=RS.SKIPPED, reason="", code=0, values={}) == {
        "row": 1,
        "phone": "x",
        "status": "skipped",
        "reason": "",
        "code": 0,
        "values": {},
    }


def test_result_status_is_a_plain_string():
    entry = result(row=1, phone="x", status=RS.VERIFIED)
    assert type(entry["status"]) is str
    assert json.loads(json.dumps(entry)) == entry


def test_result_refuses_unknown_status():
    with pytest.raises(ValueError, match="delivered"):
        result(row=1, phone="x", status="delivered")


# --- summarize ---------------------------------------------------------------------------------


def test_summarize_counts_sorted():
    results = [
        result(row=1, phone="a", status=RS.SENT),
        result(row=2, phone="b", status=RS.INVALID_NUMBER),
        result(row=3, phone="c", status=RS.SENT),
        result(row=4, phone="d", status=RS.DUPLICATE),
        {"row": 5, "phone": "e", "status": "sent"},
    ]
    summary = summarize(results)
    assert summary == {"duplicate": 1, "invalid_number": 1, "sent": 3}
    assert list(summary) == ["duplicate", "invalid_number", "sent"]


def test_summarize_empty_and_generator():
    assert summarize([]) == {}
    assert summarize(result(row=i, phone="x", status=RS.ADDED) for i in range(5)) == {"added": 5}


# --- check_failure_ratio -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "limit"),
    [
        pytest.param({}, 0.0, id="empty-batch"),
        pytest.param({"sent": 10}, 0.0, id="no-failures-zero-limit"),
        pytest.param({"duplicate": 5}, 0.0, id="only-duplicates"),
        pytest.param({"sent": 9, "send_failed": 1}, 0.1, id="exactly-at-limit"),
        pytest.param({"sent": 1, "send_failed": 1, "duplicate": 100}, 0.5, id="duplicates-not-counted"),
        pytest.param({"invalid_number": 3}, 1.0, id="all-failed-limit-one"),
        pytest.param({"skipped": 10}, 0.0, id="skipped-is-not-failed"),
        pytest.param({"sent": 3, "unknown": 5}, 0.0, id="unknown-is-not-failed"),
    ],
)
def test_failure_ratio_within_limit(summary, limit):
    check_failure_ratio(summary, max_failed_ratio=limit, step="send")


@pytest.mark.parametrize(
    ("summary", "limit", "failed", "total"),
    [
        pytest.param({"sent": 99, "send_failed": 1}, 0.0, 1, 100, id="any-failure-zero-limit"),
        pytest.param(
            {"sent": 8, "send_failed": 1, "invalid_number": 1, "duplicate": 7}, 0.1, 2, 10, id="mixed"
        ),
        pytest.param({"verified": 1, "not_on_whatsapp": 1, "lookup_failed": 1}, 0.5, 2, 3, id="verify"),
        pytest.param(
            {"received": 2, "failed": 3, "skipped": 1}, 0.49, 3, 6, id="delivery-and-skipped-in-total"
        ),
        pytest.param(
            {"context_failed": 1, "list_failed": 1, "invalid_values": 1}, 0.99, 3, 3, id="all-failed"
        ),
    ],
)
def test_failure_ratio_over_limit(summary, limit, failed, total):
    with pytest.raises(BlipBatchError) as info:
        check_failure_ratio(summary, max_failed_ratio=limit, step="send template")
    error = info.value
    assert (error.failed, error.total, error.summary) == (failed, total, summary)
    message = str(error)
    assert message.startswith("send template:")
    assert f"{failed} of {total} recipients failed" in message
    assert f"{failed / total:.1%}" in message
    assert f"max_failed_ratio={limit:g}" in message
    for status, count in summary.items():
        assert f"{status}={count}" in message


def test_failure_ratio_summary_is_copied():
    summary = {"send_failed": 1}
    with pytest.raises(BlipBatchError) as info:
        check_failure_ratio(summary, max_failed_ratio=0, step="send")
    summary["sent"] = 5
    assert info.value.summary == {"send_failed": 1}


@pytest.mark.parametrize("limit", [-0.1, 1.01, 2, float("nan"), "0.1", None, True])
def test_failure_ratio_bad_limit(limit):
    with pytest.raises(ValueError, match="max_failed_ratio"):
        check_failure_ratio({"sent": 1}, max_failed_ratio=limit, step="send")


def test_failure_ratio_accepts_int_limits():
    check_failure_ratio({"send_failed": 1}, max_failed_ratio=1, step="send")
    with pytest.raises(BlipBatchError):
        check_failure_ratio({"send_failed": 1, "sent": 1}, max_failed_ratio=0, step="send")


# --- masked_table ------------------------------------------------------------------------------

RESULTS = [
    result(row=1, phone="+5531988887777", status=RS.SENT, message_id="m1"),
    result(row=2, phone="(31) 98888-7777", status=RS.DUPLICATE, reason="same number as row 1"),
    result(row=10, phone="8888-7777", status=RS.INVALID_NUMBER, reason="missing area code (DDD)"),
    result(
        row=11,
        phone="5531977776666@wa.gw.msging.net",
        status=RS.SEND_FAILED,
        reason="Blip refused 5531977776666@wa.gw.msging.net:\nbad",
        code=42,
    ),
]


def test_masked_table_layout():
    assert masked_table(RESULTS) == "\n".join(
        [
            "row | phone                          | status         | reason",
            "----+--------------------------------+----------------+-------------------------------------------------",
            "  1 | +5531*****7777                 | sent           |",
            "  2 | (**) *****-**77                | duplicate      | same number as row 1",
            " 10 | ****-**77                      | invalid_number | missing area code (DDD)",
            " 11 | 5531*****6666@wa.gw.msging.net | send_failed    | "
            "Blip refused 5531*****6666@wa.gw.msging.net: bad",
        ]
    )


@pytest.mark.parametrize(
    "phone",
    [
        "+5531988887777",
        "5531988887777",
        "(31) 98888-7777",
        "+55 31 98888-7777",
        "31988887777",
        "98888-7777",
        "88887777",
        "+1 650 253 0000",
        "5531988887777.0",
        "5531988887777@wa.gw.msging.net",
    ],
)
def test_masked_table_never_shows_a_number(phone):
    table = masked_table([result(row=1, phone=phone, status=RS.INVALID_NUMBER, reason=f"bad {phone}")])
    digits_only = re.sub(r"\D", "", phone)
    compact = re.sub(r"[^\d*]", "", table)
    assert digits_only not in compact
    # No run of five or more digits survives anywhere, whatever the punctuation.
    for line in table.splitlines()[2:]:
        assert not re.search(r"\d{5,}", re.sub(r"[\s().+-]", "", line.split("|")[1]))


def test_masked_table_limit():
    many = [result(row=i, phone=f"+55319{i:08d}", status=RS.SENT) for i in range(1, 11)]
    lines = masked_table(iter(many), limit=3).splitlines()
    assert len(lines) == 2 + 3 + 1
    assert lines[-1] == "... and 7 more"
    assert [line.split("|")[0].strip() for line in lines[2:5]] == ["1", "2", "3"]
    assert masked_table(many, limit=10).splitlines()[-1].startswith(" 10 |")
    assert masked_table(many, limit=0).splitlines()[2:] == ["... and 10 more"]


def test_masked_table_empty():
    assert masked_table([]).splitlines()[-1] == "(no recipients)"


@pytest.mark.parametrize("limit", [-1, 1.5, True])
def test_masked_table_bad_limit(limit):
    with pytest.raises(ValueError, match="limit"):
        masked_table(RESULTS, limit=limit)


def test_masked_table_tolerates_missing_keys():
    assert masked_table([{"status": "sent"}]).splitlines()[2] == "    |       | sent   |"


def test_masked_table_reason_keeps_short_numbers_readable():
    reason = "HTTP 429, attempt 3 of 6, reason 42, row 12345"
    table = masked_table([result(row=1, phone="+5531988887777", status=RS.SEND_FAILED, reason=reason)])
    assert table.splitlines()[2].endswith(f"| {reason}")
