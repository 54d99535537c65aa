"""Shared fixtures: an isolated Airflow home, the Blip emulator and a connection to it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"

# Airflow reads its home when first imported: isolate it before anything imports airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="blip-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))

import pytest  # noqa: E402  (after AIRFLOW_HOME is set)
from blip_emulator import BlipEmulator, EmulatorConfig  # noqa: E402

#: A key long enough for Airflow's masker and easy to grep for in leak tests.
TEST_KEY = "dGVzdGJvdDpzM2NyM3Qta2V5LTQyNDI="


def pytest_configure(config):
    # Declared here, not in pyproject: resolving the class imports Airflow, which must not
    # happen before AIRFLOW_HOME above is set.
    config.addinivalue_line("filterwarnings", "error::airflow.exceptions.AirflowProviderDeprecationWarning")


@pytest.fixture
def emulator():
    with BlipEmulator(EmulatorConfig(key=TEST_KEY, seed=1)) as emu:
        yield emu


def connection_json(emulator: BlipEmulator, **extra: object) -> str:
    conn = {"conn_type": "blip", "host": emulator.url, "password": TEST_KEY, "extra": extra}
    return json.dumps(conn)


@pytest.fixture
def blip_conn(emulator, monkeypatch):
    """`blip_default` pointing at the emulator, client-side rate limits off."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT",
        connection_json(emulator, messages_per_second=0, commands_per_second=0, notifications_per_second=0),
    )
    return emulator


def make_context(try_number: int = 1, map_index: int = -1) -> dict:
    """The part of a task context the Blip operators read: the task instance's identity."""
    ti = SimpleNamespace(
        dag_id="dag", run_id="run-1", task_id="task", map_index=map_index, try_number=try_number
    )
    return {"ti": ti}


@pytest.fixture
def context():
    return make_context()
