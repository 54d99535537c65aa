"""The campaign job, run for real against the emulator, twice for the same logical date."""

from __future__ import annotations

import json

import pendulum
import pytest

from tests.conftest import TEST_KEY
from tests.dags.conftest import task_states, xcom
from tests.dags.test_example_dags import RAW_NUMBERS

pytestmark = pytest.mark.dag

LOGICAL_DATE = pendulum.datetime(2026, 12, 1, 12, tz="UTC")


def creates(emulator):
    return [r for r in emulator.records("commands") if r.envelope["uri"] == "/campaign/full" and r.processed]


def test_dag_shape(dagbag):
    dag = dagbag.get_dag("blip_whatsapp_campaign")
    assert dag.timetable.expression == "0 9 * * *"
    assert str(dag.timetable.timezone.name) == "America/Sao_Paulo"
    assert [t.task_id for t in dag.topological_sort()] == [
        "split",
        "campaign",
        "wait_for_campaigns",
        "report",
        "cleanup_run_files",
    ]


@pytest.mark.slow
def test_the_job_reports_like_the_chunked_one_and_a_rerun_creates_no_second_campaign(
    dagbag, dag_emulator, capfd
):
    dag_emulator.configure(campaign_dispatch_delay=0.2)
    dag = dagbag.get_dag("blip_whatsapp_campaign")
    first = dag.test(logical_date=LOGICAL_DATE)
    out, err = capfd.readouterr()
    assert str(first.state) == "success", task_states(first)
    report = xcom(first, "report")
    delivered = report.pop("received", 0) + report.pop("consumed", 0)
    assert delivered == 10
    assert report == {"duplicate": 1, "failed": 1, "invalid_number": 1, "invalid_values": 1}
    assert "Blip notification run: 14 recipients in 1 chunks" in out
    for raw in RAW_NUMBERS:
        assert raw not in out + err
    assert TEST_KEY not in out + err
    for task_id in ("split", "campaign", "wait_for_campaigns", "report"):
        value = json.dumps(xcom(first, task_id))
        assert not any(raw in value for raw in RAW_NUMBERS), task_id
    # Blip did the per-recipient work: no lookup, send or context call came from Airflow.
    assert dag_emulator.records("messages") == []
    assert len(creates(dag_emulator)) == 1
    assert [c["recipients"] for c in dag_emulator.campaigns()] == [11]

    made = xcom(first, "campaign")
    again = dag.test(logical_date=LOGICAL_DATE)  # the same job: a new run (the first is deleted)
    assert str(again.state) == "success", task_states(again)
    assert len(creates(dag_emulator)) == 1, "found by name: not created twice"
    assert len(dag_emulator.campaigns()) == 1
    assert xcom(again, "campaign") == made
