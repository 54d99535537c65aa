"""Run the example DAGs end to end: ``dag.test()`` in a migrated throwaway Airflow home."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from blip_emulator import BlipEmulator, EmulatorConfig

from tests.conftest import DAGS_FOLDER, TEST_KEY

#: Numbers of the sample audience that the emulator fails at delivery (a bad handset).
FAILING = {"+5511955550004": (42, "Destination not found")}
FAST_DELIVERY = {"accepted": 0.0, "dispatched": 0.02, "received": 0.05, "consumed": 0.2}


@pytest.fixture(scope="session")
def airflow_db():
    # conftest.py gave this session its own AIRFLOW_HOME; migrate its sqlite database once.
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ
    )


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag


@pytest.fixture(autouse=True)
def fresh_params(dagbag):
    """Give every test the DAGs' own params: ``dag.test(run_conf=...)`` leaves its conf in them.

    Without this a test's conf (an approval threshold of 5, say) is the next test's default,
    and a run that should go unattended waits for a person forever.
    """
    import copy

    saved = {dag_id: copy.deepcopy(dag.params) for dag_id, dag in dagbag.dags.items()}
    yield
    for dag_id, params in saved.items():
        dagbag.dags[dag_id].params = params


@pytest.fixture
def dag_emulator(monkeypatch):
    config = EmulatorConfig(
        key=TEST_KEY, seed=3, failing_numbers=dict(FAILING), delivery_delays=dict(FAST_DELIVERY)
    )
    with BlipEmulator(config) as emu:
        monkeypatch.setenv(
            "AIRFLOW_CONN_BLIP_DEFAULT",
            json.dumps({"conn_type": "blip", "host": emu.url, "password": TEST_KEY}),
        )
        yield emu


def xcom(dag_run, task_id: str):
    """The return value a task of ``dag_run`` pushed, or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
        )
        row = session.scalars(query).first()
        return XComModel.deserialize_value(row) if row is not None else None


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
