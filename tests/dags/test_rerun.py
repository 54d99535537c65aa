"""A user re-runs the notification job after crashes: ``airflow dags test`` killed, then run again.

``dags test`` deletes the earlier run with that logical date and makes a new run id, so only
the job key (the DAG and its logical date) ties the runs together. Counted from what the
emulator stored, never from what the DAG says about itself.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import DAGS_FOLDER

LOGICAL_DATE = "2026-12-01T12:00:00+00:00"


def write_audience(path, n):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "name", "order_id"])
        for i in range(n):
            writer.writerow([f"+55119{i:08d}", f"Cliente {i}", f"A-{i}"])


def stored(emulator):
    return collections.Counter(r.envelope["to"] for r in emulator.records("messages") if r.processed)


def dags_test(audience, env):
    conf = json.dumps({"audience": str(audience)})
    command = [sys.executable, "-m", "airflow", "dags", "test", "blip_whatsapp_notifications", LOGICAL_DATE]
    return subprocess.Popen(
        [*command, "-c", conf], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow
@pytest.mark.dag
def test_dags_test_killed_three_times_then_run_again_messages_each_recipient_once(
    airflow_db, dag_emulator, tmp_path
):
    audience = tmp_path / "audience.csv"
    write_audience(audience, 300)
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER)}
    for goal in (40, 120, 200):  # kill while notify is sending, three times
        run = dags_test(audience, env)
        while run.poll() is None and sum(stored(dag_emulator).values()) < goal:
            time.sleep(0.01)
        assert run.poll() is None, "the run ended before it could be killed"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    final = dags_test(audience, env)
    assert final.wait(timeout=600) == 0
    sent = stored(dag_emulator)
    assert {to: n for to, n in sent.items() if n > 1} == {}, "messaged twice"
    assert len(sent) == 300, "missing recipients"
