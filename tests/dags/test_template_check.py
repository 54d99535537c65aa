"""The example notification DAG checks the approved template before anything is looked up or sent.

Counted by the emulator, which enforces the registry as Blip would (``enforce_templates``).
"""

from __future__ import annotations

import pytest

from tests.dags.conftest import task_states, xcom

pytestmark = pytest.mark.dag

DAG_ID = "blip_whatsapp_notifications"


def spent(emulator) -> dict[str, int]:
    lookups = [r for r in emulator.records("commands") if "/accounts/" in r.envelope["uri"]]
    return {"lookups": len(lookups), "messages": len(emulator.records("messages"))}


@pytest.mark.parametrize(
    ("conf", "why"),
    [
        (
            {"template_name": "pipeline_failed"},
            "body has 3 placeholders, the DAG gives 2 columns: name, order_id",
        ),
        ({"template_name": "black_friday", "body_columns": ["name"]}, "is PAUSED"),
    ],
    ids=["columns-do-not-match", "paused"],
)
def test_a_template_the_registry_refuses_fails_the_run_before_anything_is_spent(
    dagbag, dag_emulator, capfd, conf, why
):
    dag_emulator.configure(enforce_templates=True)
    dag_run = dagbag.get_dag(DAG_ID).test(run_conf=conf)
    out, err = capfd.readouterr()
    states = task_states(dag_run)
    # (The run's own state follows its only leaf, the all_done cleanup, so it is not asserted.)
    assert (states["split"], states["notify"], states["report"]) == ("success", "failed", "upstream_failed")
    assert why in out + err
    assert spent(dag_emulator) == {"lookups": 0, "messages": 0}


def test_a_matching_template_runs_as_today(dagbag, dag_emulator):
    dag_emulator.configure(enforce_templates=True)
    # The defaults, given again: dag.test(run_conf=...) leaves the conf in the session's DAG params.
    dag_run = dagbag.get_dag(DAG_ID).test(
        run_conf={"template_name": "order_update", "body_columns": ["name", "order_id"]}
    )
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert spent(dag_emulator) == {"lookups": 11, "messages": 11}


def test_a_run_that_starts_too_late_sends_nothing_and_the_report_says_why(dagbag, dag_emulator, capfd):
    import pendulum

    late = pendulum.now("UTC").subtract(hours=3)  # its scheduled time; it starts now, 3 h late
    dag_run = dagbag.get_dag(DAG_ID).test(logical_date=late, run_conf={"max_delay_hours": 2})
    out, err = capfd.readouterr()
    states = task_states(dag_run)
    assert states["split"] == "success", states
    assert states["report"] == "success", states
    assert "stale run: scheduled for" in out
    assert "more than max_delay=2h00m); nothing was sent" in out
    assert spent(dag_emulator) == {"lookups": 0, "messages": 0}
    assert xcom(dag_run, "report") == {"stale_run": 1}
