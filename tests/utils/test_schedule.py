"""The stale-run guard, with an injected clock: a late run splits nothing and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.operators.notify import BlipSplitAudienceOperator
from airflow_provider_blip.utils.schedule import as_delay, check_stale, scheduled_time
from tests.conftest import make_context

NINE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo
ROWS = [{"phone": "+5511900000001", "name": "Ana"}]


class FakeTI(SimpleNamespace):
    def xcom_push(self, key, value):
        self.pushed[key] = value


def context_at(scheduled: datetime, run_type: str = "scheduled") -> dict:
    ctx = make_context()
    ctx["dag_run"] = SimpleNamespace(run_type=run_type)
    ctx["ti"] = FakeTI(**vars(ctx["ti"]), pushed={})
    ctx["logical_date"] = scheduled
    ctx["data_interval_end"] = scheduled
    return ctx


def split(tmp_path, now: datetime, run_type: str = "scheduled", **kwargs):
    op = BlipSplitAudienceOperator(task_id="split", audience=ROWS, runs_path=str(tmp_path), **kwargs)
    op._now = lambda: now  # the frozen clock
    ctx = context_at(NINE, run_type)
    return op.execute(ctx), ctx["ti"].pushed


def test_a_run_within_max_delay_splits_as_today(tmp_path):
    chunks, pushed = split(tmp_path, NINE + timedelta(hours=2), max_delay=2 * 3600)
    assert [c["rows"] for c in chunks] == [1]
    assert pushed == {}


def test_a_run_later_than_max_delay_writes_no_chunk_and_says_why(tmp_path, capfd):
    chunks, pushed = split(tmp_path, NINE + timedelta(hours=6), max_delay="7200")
    assert chunks == []
    assert not list(tmp_path.rglob("*.jsonl")), "no chunk file: nothing can be looked up or sent"
    reason = pushed["stale"]["reason"]
    assert reason == (
        "stale run: scheduled for 2026-12-01T12:00:00+00:00, started 2026-12-01T18:00:00+00:00 "
        "(6h00m late, more than max_delay=2h00m); nothing was sent"
    )
    assert pushed["stale"]["max_delay_seconds"] == 7200
    assert reason in capfd.readouterr().out


@pytest.mark.parametrize("run_type", ["manual", "backfill", "asset_triggered"])
def test_only_scheduled_runs_are_guarded(tmp_path, run_type):
    # `airflow dags test DAG <older date>` or a backfill is a person choosing to run that job now.
    chunks, pushed = split(tmp_path, NINE + timedelta(hours=6), run_type=run_type, max_delay=7200)
    assert len(chunks) == 1
    assert pushed == {}


def test_the_guard_is_off_by_default(tmp_path):
    chunks, _ = split(tmp_path, NINE + timedelta(days=3))
    assert len(chunks) == 1


def test_data_interval_end_is_the_scheduled_time_when_there_is_one():
    end = NINE + timedelta(days=1)
    assert scheduled_time({"logical_date": NINE, "data_interval_end": end}) == end
    assert scheduled_time({"logical_date": NINE, "data_interval_end": None}) == NINE
    assert scheduled_time({}) is None
    assert check_stale({}, timedelta(hours=1), NINE) is None, "no date: nothing to compare"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (0, None), ("0", None), ("", None), (60, timedelta(minutes=1))]
)
def test_as_delay(value, expected):
    assert as_delay(value, "max_delay") == expected


def test_a_negative_delay_is_refused():
    with pytest.raises(BlipConfigError, match="max_delay must be"):
        as_delay("-5", "max_delay")
