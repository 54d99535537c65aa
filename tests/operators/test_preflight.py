"""The preflight reads the split's chunks and the template's category: counts only, nothing spent."""

from __future__ import annotations

import json

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.operators.notify import BlipNotifyOperator, BlipSplitAudienceOperator
from airflow_provider_blip.operators.preflight import BlipPreflightOperator
from airflow_provider_blip.utils.preflight import summarize
from tests.conftest import make_context

ROWS = [
    *({"phone": f"+55119{i:08d}", "name": f"Cliente {i}"} for i in range(6)),
    {"phone": "12", "name": "bad number"},
    {"phone": "+5511900000001", "name": "duplicate"},
    {"phone": "+5511988880000", "name": ""},
]


def split(tmp_path):
    op = BlipSplitAudienceOperator(
        task_id="split",
        audience=ROWS,
        runs_path=str(tmp_path),
        required_columns=["name"],
        max_invalid_ratio=1.0,
    )
    return op.execute(make_context())


def preflight(chunks, **kwargs):
    kwargs.setdefault("template_name", "payment_reminder")
    return BlipPreflightOperator(task_id="preflight", chunks=chunks, **kwargs).execute(make_context())


def test_counts_and_cost_without_any_lookup_or_send(blip_conn, tmp_path, capfd):
    out = preflight(split(tmp_path), prices={"marketing": 0.0625, "UTILITY": 0.008}, currency="USD")
    assert out == {
        "rows": 9,
        "valid": 6,
        "invalid": {"invalid_number": 1, "invalid_values": 1},
        "duplicates": 1,
        "recently_sent": 0,
        "billable": 6,
        "category": "MARKETING",
        "estimated_cost": 0.375,
        "currency": "USD",
    }
    uris = [r.envelope["uri"] for r in blip_conn.records("commands")]
    assert uris == ["/message-templates-enriched?templateName=payment_reminder&$skip=0&$take=100"]
    assert blip_conn.records("messages") == []
    logs = capfd.readouterr().out
    assert "6 billable MARKETING messages, estimated cost 0.38 USD" in logs
    for row in ROWS:
        assert row["phone"] not in json.dumps(out)
        if len(row["phone"]) > 3:
            assert row["phone"] not in logs


def test_recently_sent_are_not_billable(blip_conn, tmp_path):
    import pendulum

    day = pendulum.datetime(2026, 12, 1, 12, tz="UTC")
    first = BlipSplitAudienceOperator(task_id="split", audience=ROWS[:3], runs_path=str(tmp_path))
    ctx = make_context()
    ctx["logical_date"] = day
    (chunk,) = first.execute(ctx)
    notify_ctx = make_context(map_index=0)
    notify_ctx["ti"].task_id = "notify"
    BlipNotifyOperator(
        task_id="notify",
        chunk=chunk,
        template_name="order_ready",
        body_columns=["name"],
        skip_if_sent_within=3600,
        first_read_after=None,
    ).execute(notify_ctx)
    ctx = make_context()
    ctx["logical_date"] = day.add(days=1)
    later = BlipSplitAudienceOperator(task_id="split", audience=ROWS[:6], runs_path=str(tmp_path)).execute(
        ctx
    )
    out = preflight(later, template_name="order_ready", skip_if_sent_within=3600 * 48)
    assert (out["valid"], out["recently_sent"], out["billable"]) == (6, 3, 3)
    assert out["estimated_cost"] is None, "no price table: no estimate"


def test_no_registry_read_when_switched_off(blip_conn, tmp_path):
    out = preflight(split(tmp_path), read_category=False, prices={"MARKETING": 1})
    assert (out["category"], out["estimated_cost"]) == (None, None)
    assert blip_conn.records() == []


@pytest.mark.parametrize("price", [-1, "cheap", True])
def test_bad_prices_are_refused(price):
    from collections import Counter

    with pytest.raises(BlipConfigError, match="must be a number >= 0"):
        summarize(Counter(valid=1), category="UTILITY", prices={"UTILITY": price})
