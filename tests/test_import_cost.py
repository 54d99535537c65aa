"""Importing the provider at DAG parse time must not pull in its slow dependencies.

No timing here (bench/parse_cost.py measures); only which modules a fresh interpreter holds
after ``import airflow.sdk`` and after the provider imports of an example DAG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROVIDER_MODULES = (
    "airflow_provider_blip.operators.blip",
    "airflow_provider_blip.operators.lists",
    "airflow_provider_blip.operators.notify",
    "airflow_provider_blip.sensors.blip",
    "airflow_provider_blip.notifications.blip",
)

# Prints the modules the provider imports added to what airflow.sdk alone had loaded.
CHILD = """\
import json, sys
import airflow.sdk
baseline = set(sys.modules)
for name in json.loads(sys.argv[1]):
    __import__(name)
print(json.dumps(sorted(set(sys.modules) - baseline)))
"""


@pytest.fixture(scope="module")
def newly_loaded(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Modules loaded by the provider imports, in a fresh interpreter (this one has them all)."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    command = [sys.executable, "-c", CHILD, json.dumps(PROVIDER_MODULES)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["phonenumbers", "pendulum.parser"])
def test_slow_dependencies_are_imported_on_first_use(newly_loaded: set[str], module: str) -> None:
    assert module not in newly_loaded


def test_requests_is_imported_on_first_use(newly_loaded: set[str]) -> None:
    assert "requests" not in newly_loaded


def test_the_provider_modules_were_imported_by_the_probe(newly_loaded: set[str]) -> None:
    # Guards the tests above against passing vacuously.
    assert newly_loaded >= set(PROVIDER_MODULES)
