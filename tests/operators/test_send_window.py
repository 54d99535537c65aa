"""Send windows in the notification job: outside the window nobody is sent, the task defers, then sends.

The clock is frozen through the operator's ``_now`` seam; counts come from what the emulator
stored, never from what the operator says about itself.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.operators.notify import BlipNotifyOperator
from airflow_provider_blip.utils import journal, runfiles
from airflow_provider_blip.utils.jobs import RunLayout
from tests.operators.notify_worker import FLOW, TEMPLATE
from tests.operators.test_notify import audience, results, split, stored_messages

SP = ZoneInfo("America/Sao_Paulo")
MANAUS = [{"phone": f"+55929{i:08d}", "name": f"Manaus {i}"} for i in range(3)]  # UTC-04:00


def sp(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SP)


class Task:
    """One notify task instance, run by execute and resumed as the worker would, clock frozen."""

    def __init__(self, chunk, **kwargs):
        kwargs = {"max_failed_ratio": 1.0, "first_read_after": None, **TEMPLATE, **FLOW, **kwargs}
        self.chunk = chunk
        self.kwargs = kwargs
        self.xcom: dict[str, object] = {}

    def context(self):
        ti = SimpleNamespace(dag_id="dag", run_id="run-1", task_id="notify", map_index=0, try_number=1)
        ti.xcom_push = lambda key, value: self.xcom.__setitem__(key, value)
        return {"ti": ti}

    def operator(self, now: datetime) -> BlipNotifyOperator:
        # A fresh operator each time: a resumed task is a new process on the worker.
        op = BlipNotifyOperator(task_id="notify", chunk=self.chunk, **self.kwargs)
        op._now = lambda: now
        return op

    def execute(self, now: datetime):
        return self.operator(now).execute(self.context())

    def resume(self, deferred: TaskDeferred, now: datetime):
        op = self.operator(now)
        return getattr(op, deferred.method_name)(self.context(), event=deferred.kwargs)


def deferred_until(caught: pytest.ExceptionInfo[TaskDeferred]) -> datetime:
    trigger = caught.value.trigger
    assert isinstance(trigger, DateTimeTrigger), "Airflow's own trigger: it only waits"
    return trigger.moment


def test_at_night_nothing_is_sent_and_the_task_defers_to_the_morning(blip_conn, tmp_path):
    (chunk,) = split(tmp_path, audience(4))
    task = Task(chunk, send_window="08:00-20:00")
    with pytest.raises(TaskDeferred) as caught:
        task.execute(sp(1, 22))
    assert deferred_until(caught) == sp(2, 8)
    assert stored_messages(blip_conn) == {}
    assert blip_conn.records() == [], "nobody was looked up either"
    layout = RunLayout.of_chunk(runfiles.storage_path(chunk["chunk"]))
    progress = journal.load(layout.results("notify", 0))
    assert progress.done == {}, "a waiting row is not journaled"
    assert progress.in_flight == {}

    output = task.resume(caught.value, sp(2, 8, 1))
    sent = stored_messages(blip_conn)
    assert len(sent) == 4
    assert set(sent.values()) == {1}
    assert output["counts"] == {"context_set": 4}
    assert output["messages"] == 4
    rows = results(output)
    assert sorted(r["row"] for r in rows) == [1, 2, 3, 4], "every recipient once in the results"
    assert all(r["waited"] for r in rows)
    assert task.xcom["waited_for_window"] == 4


def test_a_mixed_audience_sends_the_open_zone_first_and_defers_for_the_other(blip_conn, tmp_path):
    (chunk,) = split(tmp_path, audience(2) + MANAUS)
    task = Task(chunk, send_window="08:00-20:00")
    # 08:30 in São Paulo is 07:30 in Manaus.
    with pytest.raises(TaskDeferred) as caught:
        task.execute(sp(2, 8, 30))
    assert deferred_until(caught) == sp(2, 9), "08:00 in Manaus"
    first = stored_messages(blip_conn)
    assert sorted(first) == ["5511900000000@wa.gw.msging.net", "5511900000001@wa.gw.msging.net"]

    output = task.resume(caught.value, sp(2, 9, 1))
    sent = stored_messages(blip_conn)
    assert len(sent) == 5
    assert set(sent.values()) == {1}, "the São Paulo numbers were not sent again"
    rows = {r["row"]: r for r in results(output)}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert collections.Counter(bool(r.get("waited")) for r in rows.values()) == {False: 2, True: 3}
    assert all(rows[n]["waited"] for n in (3, 4, 5))
    assert output["counts"] == {"context_set": 5}
    assert task.xcom["waited_for_window"] == 3


def test_resumed_too_early_it_defers_again(blip_conn, tmp_path):
    (chunk,) = split(tmp_path, audience(1) + MANAUS[:1])
    task = Task(chunk, send_window="08:00-20:00")
    with pytest.raises(TaskDeferred) as caught:
        task.execute(sp(1, 23))
    assert deferred_until(caught) == sp(2, 8)
    with pytest.raises(TaskDeferred) as again:
        task.resume(caught.value, sp(2, 8))  # São Paulo opens; Manaus still sleeps
    assert deferred_until(again) == sp(2, 9)
    assert len(stored_messages(blip_conn)) == 1
    output = task.resume(again.value, sp(2, 9))
    assert set(stored_messages(blip_conn).values()) == {1}
    assert len(stored_messages(blip_conn)) == 2
    assert sorted(r["row"] for r in results(output)) == [1, 2]
    assert task.xcom["waited_for_window"] == 2


def test_a_number_whose_zones_never_share_an_open_hour_is_not_sent(blip_conn, tmp_path):
    toll_free = {"phone": "+18005550100", "name": "Toll free"}  # Pago Pago to St John's
    (chunk,) = split(tmp_path, audience(1) + [toll_free])
    output = Task(chunk, send_window="09:00-12:00").execute(sp(2, 10))
    assert output["counts"] == {"context_set": 1, "not_sent": 1}
    (row,) = [r for r in results(output) if r["status"] == "not_sent"]
    assert "never open at once" in row["reason"]
    assert "800" not in row["reason"], "no number in the reason"


def test_without_a_window_it_sends_at_any_hour(blip_conn, tmp_path):
    (chunk,) = split(tmp_path, audience(3))
    task = Task(chunk)
    output = task.execute(sp(2, 3))
    assert output["counts"] == {"context_set": 3}
    assert len(stored_messages(blip_conn)) == 3
    assert not any("waited" in r for r in results(output))
    assert task.xcom == {}, "no window: nothing more in XCom"


def test_a_bad_window_fails_before_any_request(blip_conn, tmp_path):
    (chunk,) = split(tmp_path, audience(2))
    with pytest.raises(BlipConfigError, match="across midnight"):
        Task(chunk, send_window="20:00-08:00").execute(datetime(2026, 12, 2, 12, tzinfo=UTC))
    assert blip_conn.records() == []


def test_send_window_is_templated():
    assert "send_window" in BlipNotifyOperator.template_fields
