"""The example notification DAG checks the approved template before anything is looked up or sent.

Counted by the emulator, which enforces the registry as Blip would (``enforce_templates``).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

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
    assert (states["split"], states["notify"], states["report"]) == ("success", "failed", "upstream_failed")
    assert states["cleanup_run_files"] == "success", "the teardown cleans up however the job ended"
    assert str(dag_run.state) == "failed", "the cleanup is a teardown: the run fails with the job"
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


def answer_approval(option: str, stop: threading.Event) -> None:
    """Act as the person at the approval screen: answer the first pending request with ``option``.

    Does what the api-server's HITL route does (``PATCH .../hitlDetails``): record the response,
    then resume the parked task instance; dag.test() waits for exactly that.
    """
    from airflow.models.hitl import HITLDetail
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session

    while not stop.wait(0.2):
        with create_session() as session:
            pending = session.query(HITLDetail).filter(HITLDetail.responded_at.is_(None)).first()
            if pending is None or pending.task_instance.state != "awaiting_input":
                continue
            pending.chosen_options = [option]
            pending.responded_by = {"id": "ops", "name": "ops"}
            pending.responded_at = datetime.now(UTC)
            session.add(pending)
            event = TriggerEvent(pending.as_resume_event_payload())
            handle_event_submit(event, task_instance=pending.task_instance, session=session)
            return


@pytest.mark.parametrize("option", ["Approve", "Reject"])
def test_above_the_threshold_a_person_approves_or_rejects_the_send(dagbag, dag_emulator, capfd, option):
    stop = threading.Event()
    person = threading.Thread(target=answer_approval, args=(option, stop), daemon=True)
    person.start()
    try:
        conf = {
            "approval_threshold": 5,
            "prices": {"UTILITY": 0.01},
            "currency": "USD",
            # earlier tests' run_conf stays in the session's DAG params: give these again
            "skip_if_sent_within_hours": None,
            "campaign_key": None,
            "list_name": None,
            "master_state": None,
        }
        dag_run = dagbag.get_dag(DAG_ID).test(run_conf=conf)
    finally:
        stop.set()
        person.join(5)
    out, _ = capfd.readouterr()
    states = task_states(dag_run)
    preflight = xcom(dag_run, "preflight")
    assert preflight["billable"] == 11, "the 11 valid, distinct, complete rows"
    assert (preflight["category"], preflight["estimated_cost"], preflight["currency"]) == (
        "UTILITY",
        0.11,
        "USD",
    )
    assert states["approve_send"] == "success", states
    if option == "Approve":
        assert states["notify"] == "success", states
        assert spent(dag_emulator)["messages"] == 11
    else:
        assert states["notify"] == "skipped", states
        assert spent(dag_emulator) == {"lookups": 0, "messages": 0}
        assert states["report"] == "success", states
        assert "the send was rejected at approval; 11 messages not sent" in out
        assert xcom(dag_run, "report") == {"rejected": 11}
    # Leave the session's DAG params as they were for the tests after this one.
    dagbag.get_dag(DAG_ID).params.update({"approval_threshold": 1000, "prices": None, "currency": None})
