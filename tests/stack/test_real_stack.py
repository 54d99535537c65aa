"""The notification job on a real Airflow: triggered through the REST API, deferred in the triggerer.

Unlike ``tests/dags`` (``dag.test()`` in one process), the run here goes through every
component a deployment has: the dag-processor parses ``dags/``, the scheduler queues the
tasks, the LocalExecutor's task processes talk to the api-server's execution API, and the
delivery wait sleeps in the triggerer until Blip (the emulator, in this process) reports the
messages received.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.conftest import DAGS_FOLDER

if TYPE_CHECKING:
    from blip_emulator import BlipEmulator

    from tests.stack.conftest import AirflowStack

pytestmark = pytest.mark.slow

DAG_ID = "blip_whatsapp_notifications"
SAMPLE_AUDIENCE = str(DAGS_FOLDER / "data" / "blip_sample_audience.csv")
PARSE_TIMEOUT = 120.0
RUN_TIMEOUT = 180.0
SENSOR = "wait_for_delivery"


@dataclasses.dataclass
class Observed:
    """What polling the run showed: each task's states, in the order first seen."""

    states: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    run_state: str | None = None

    def see(self, task_key: str, state: str | None) -> None:
        if state is None:  # also a mapped task not expanded yet (map index -1)
            return
        seen = self.states.setdefault(task_key, [])
        if not seen or seen[-1] != state:
            seen.append(state)


def wait_for_dag(stack: AirflowStack) -> dict:
    def parsed() -> dict | None:
        errors = stack.api("GET", "/importErrors")["import_errors"]
        if errors:
            raise AssertionError(f"the dag-processor reported import errors: {errors}")
        return stack.try_api(f"/dags/{DAG_ID}")

    return stack.wait_until(f"the dag-processor to parse {DAG_ID}", parsed, PARSE_TIMEOUT)


def follow_run(stack: AirflowStack, run_id: str) -> Observed:
    """Poll the run and its task instances until the run ends; every state change is kept."""
    observed = Observed()
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}"

    def ended() -> bool:
        for ti in stack.api("GET", f"{path}/taskInstances?limit=100")["task_instances"]:
            key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            observed.see(key, ti["state"])
        observed.run_state = stack.api("GET", path)["state"]
        return observed.run_state in ("success", "failed")

    stack.wait_until(f"run {run_id} to end", ended, RUN_TIMEOUT, every=0.5)
    return observed


def test_notification_job_defers_in_the_triggerer(
    airflow_stack: AirflowStack, stack_emulator: BlipEmulator
) -> None:
    stack = airflow_stack
    dag = wait_for_dag(stack)
    assert dag["is_paused"] is True, "new DAGs start paused"
    assert stack.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})["is_paused"] is False

    body = {"logical_date": datetime.now(UTC).isoformat(), "conf": {"audience": SAMPLE_AUDIENCE}}
    run = stack.api("POST", f"/dags/{DAG_ID}/dagRuns", body)
    assert run["run_type"] == "manual"
    observed = follow_run(stack, run["dag_run_id"])

    assert observed.run_state == "success", observed.states
    job = {"split", "preflight", "needs_approval", "notify[0]", f"{SENSOR}[0]", "report", "cleanup_run_files"}
    assert set(observed.states) == job | {"approve_send"}
    # 11 billable messages, below approval_threshold: the approval is skipped, the job unattended.
    assert observed.states["approve_send"][-1] == "skipped", observed.states
    assert all(observed.states[task][-1] == "success" for task in job), observed.states
    # The wait handed over to the triggerer and was resumed on a worker once delivery settled.
    sensor = observed.states[f"{SENSOR}[0]"]
    assert "deferred" in sensor, sensor
    assert sensor.index("deferred") < len(sensor) - 1, "it came back from deferral"
    # The triggerer writes its own log next to the task's; the trigger's event ended the wait.
    trigger_logs = list(
        stack.home.glob(f"logs/dag_id={DAG_ID}/run_id=*/task_id={SENSOR}/map_index=0/*.trigger.*.log")
    )
    assert len(trigger_logs) == 1, trigger_logs
    assert "Trigger fired event" in trigger_logs[0].read_text("utf-8")

    # One message per valid, distinct recipient of the sample audience.
    accounts = [record.envelope["to"] for record in stack_emulator.records("messages")]
    assert len(accounts) == len(set(accounts)) == 11
    report = stack.api(
        "GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/report/xcomEntries/return_value"
    )
    counts = dict(report["value"])
    delivered = counts.pop("received", 0) + counts.pop("consumed", 0)
    assert delivered == 10
    assert counts == {"duplicate": 1, "failed": 1, "invalid_number": 1, "invalid_values": 1}
