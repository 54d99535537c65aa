"""Efficiency of the example DAG itself, run by Airflow: ``airflow dags test`` on 2,000 recipients.

``bench/efficiency.py`` times the operators the way one worker runs them. This one runs the
scheduled DAG ``blip_whatsapp_notifications`` with ``airflow dags test`` (the scheduler loop
in one process, tasks one after another) against the emulator at 100 ms latency and the
paid plan's limits, so Airflow's own cost per task (start, XCom, map expansion) counts too.

The job's wall time runs from the start of ``split`` to the end of the last ``notify``, read
from the ``[DAG TEST]`` log lines. ``dags test`` boots an in-process API server when its
first task starts (about 6 s here, once per ``dags test``, not per task); the result also
gives the ratio from the moment that first task really started. The least time the plan
allows is the largest of messages / 50 and commands / 200, counted from the emulator's
records of that window (the sensor's status reads come after it and are left out).

Usage::

    .venv/bin/python bench/dag_efficiency.py [--rows 2000] [--latency 0.1] [--json PATH]
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # a sibling module, found through the path above

PLAN = {"messages": 50.0, "commands": 200.0}
_STAMP = re.compile(r"^(\S+Z) .*\[DAG TEST\] (starting|end) (?:task )?task_id=(\S+) map_index=(-?\d+)")


def task_times(log: str) -> dict[tuple[str, str, int], dt.datetime]:
    """Map (event, task_id, map_index) to its time, from ``airflow dags test`` output."""
    times = {}
    for line in log.splitlines():
        match = _STAMP.match(line)
        if match:
            stamp, event, task_id, index = match.groups()
            times[(event, task_id, int(index))] = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return times


def first_task_started(log: str) -> dt.datetime:
    """When the first task really started: ``dags test`` first boots its in-process API server."""
    line = next(line for line in log.splitlines() if "Task started" in line)
    return dt.datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))


def records(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_emulator/records", timeout=60) as response:
        found: list[dict[str, Any]] = json.load(response)
    return found


def run(rows: int = 2000, latency: float = 0.1) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="blip-dag-bench-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    audience = harness.write_audience(home / "audience.csv", rows)
    with harness.Emulator("--latency", str(latency), "--rate-limit", "paid") as emu:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(harness.REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_BLIP_DEFAULT": json.dumps(
                {"conn_type": "blip", "host": emu.url, "password": harness.KEY}
            ),
        }
        airflow = [sys.executable, "-m", "airflow"]
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        conf = json.dumps({"audience": str(audience)})
        done = subprocess.run(
            [*airflow, "dags", "test", "blip_whatsapp_notifications", "--conf", conf],
            env=env,
            capture_output=True,
            text=True,
        )
        seen = records(emu.url)
        refused = emu.stats()["refused"]
    log = done.stdout + done.stderr
    times = task_times(log)
    if ("starting", "split", -1) not in times:
        sys.stderr.write(log[-5000:])
        raise RuntimeError(f"airflow dags test exited {done.returncode}: no task started")
    start = times[("starting", "split", -1)]
    end = max(t for (event, task, _), t in times.items() if event == "end" and task == "notify")
    window = [r for r in seen if start.timestamp() <= r["received_at"] <= end.timestamp()]
    counts = {
        "messages": sum(r["channel"] == "messages" for r in window),
        "commands": sum(r["channel"] == "commands" for r in window),
    }
    least = max(counts[c] / PLAN[c] for c in PLAN)
    wall = (end - start).total_seconds()
    ratio = wall / least if least else float("inf")
    startup = (first_task_started(log) - start).total_seconds()
    return {
        "name": "dag_efficiency",
        "rows": rows,
        "latency_s": latency,
        "dag_exit_code": done.returncode,
        "job_wall_s": round(wall, 2),
        "least_s": round(least, 2),
        "ratio": round(ratio, 3),
        "dags_test_api_startup_s": round(startup, 2),
        "ratio_after_startup": round((wall - startup) / least, 3) if least else None,
        "refused": refused,
        "requests_in_window": counts,
        "goal": {"ratio": "<= 1.15", "refused": "== 0"},
        "met": done.returncode == 0 and ratio <= 1.15 and refused == 0,
        "command": f".venv/bin/python bench/dag_efficiency.py --rows {rows} --latency {latency}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.rows, args.latency)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if result["dag_exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
