"""Efficiency of the example DAG itself, run as a user runs it: ``airflow dags test``.

``bench/efficiency.py`` times the operators the way one worker runs them. This one runs the
scheduled DAG ``blip_whatsapp_notifications`` with ``airflow dags test`` (the scheduler loop
in one process, tasks one after another, the deferred wait's trigger inline) against the
emulator in strict mode: the paid plan counted in any sliding one-second window at arrival,
20 ms of arrival jitter, and a 120 s lockout of the channel after any excess. The router's
``master_state`` and a distribution list are on, so every recipient costs a lookup, a
message, the master-state, the flow state, a list add and one status read.

The job time runs from the start of ``split`` to the end of ``report``, read from the
``[DAG TEST]`` log lines, minus the same time for a one-recipient audience measured in the
same run (Airflow's fixed cost: its in-process API server, task starts, XCom). The least time
the plan allows is the largest over channels of the requests one recipient needs times the
valid recipients, over the plan's rate: messages N / 50, commands 5 N / 200.

Usage::

    .venv/bin/python bench/dag_efficiency.py [--rows 1000 10000] [--latency 0.05] [--json PATH]
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


#: Requests one valid recipient needs, per channel: lookup, master-state, stateid, list add
#: and one status read are commands.
PER_RECIPIENT = {"messages": 1, "commands": 5}
CONF = {"master_state": "subbot@msging.net", "list_name": "bench-list"}


def dag_run(rows: int, latency: float, *emulator_args: str) -> dict[str, Any]:
    """Run the DAG once on ``rows`` recipients against a fresh strict emulator."""
    home = Path(tempfile.mkdtemp(prefix="blip-dag-bench-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    audience = harness.write_audience(home / "audience.csv", rows)
    with harness.Emulator("--strict", "--latency", str(latency), *emulator_args) as emu:
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
        conf = json.dumps({"audience": str(audience), **CONF})
        done = subprocess.run(
            [*airflow, "dags", "test", "blip_whatsapp_notifications", "--conf", conf],
            env=env,
            capture_output=True,
            text=True,
        )
        stats = emu.stats()
        seen = records(emu.url)
    log = done.stdout + done.stderr
    times = task_times(log)
    if ("starting", "split", -1) not in times or ("end", "report", -1) not in times:
        sys.stderr.write(log[-5000:])
        raise RuntimeError(f"airflow dags test exited {done.returncode}: the job did not finish")
    wall = (times[("end", "report", -1)] - times[("starting", "split", -1)]).total_seconds()
    sent = {r["envelope"]["to"] for r in seen if r["channel"] == "messages" and r.get("processed", True)}
    return {
        "rows": rows,
        "exit_code": done.returncode,
        "wall_s": wall,
        "messages": len(sent),
        "requests": {c: sum(r["channel"] == c for r in seen) for c in ("messages", "commands")},
        "refused": stats["refused"],
        "max_in_window": {c: v["max_in_window"] for c, v in stats.get("channels", {}).items()},
        "excess_at_s": _excess(seen, times[("starting", "split", -1)].timestamp()),
    }


def _excess(seen: list[dict[str, Any]], start: float) -> dict[str, list[float]]:
    """When (seconds after the split started) a channel first held more than its plan in 1 s."""
    import bisect

    found: dict[str, list[float]] = {}
    for channel, rate in PLAN.items():
        stamps = sorted(r["received_at"] for r in seen if r["channel"] == channel)
        over = [t - start for i, t in enumerate(stamps) if bisect.bisect_left(stamps, t + 1.0) - i > rate]
        found[channel] = [round(t, 2) for t in over[:5]]
    return found


def run(sizes: list[int], latency: float = 0.05) -> dict[str, Any]:
    fixed = dag_run(1, latency)
    results = []
    for rows in sizes:
        job = dag_run(rows, latency)
        least = max(job["messages"] * PER_RECIPIENT[c] / PLAN[c] for c in PLAN)
        job_time = job["wall_s"] - fixed["wall_s"]
        ratio = job_time / least if least else float("inf")
        results.append(
            {
                **job,
                "wall_s": round(job["wall_s"], 2),
                "job_time_s": round(job_time, 2),
                "least_s": round(least, 2),
                "ratio": round(ratio, 3),
                "met": job["exit_code"] == 0 and ratio <= 1.10 and job["refused"] == 0,
            }
        )
    return {
        "name": "dag_efficiency",
        "latency_s": latency,
        "emulator": "strict: paid plan, sliding 1 s window, 20 ms arrival jitter, 120 s lockout",
        "fixed_cost_s": round(fixed["wall_s"], 2),
        "fixed_run": fixed,
        "runs": results,
        "goal": {"ratio": "<= 1.10", "refused": "== 0"},
        "met": all(r["met"] for r in results),
        "command": f".venv/bin/python bench/dag_efficiency.py --rows {' '.join(map(str, sizes))} "
        f"--latency {latency}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.rows, args.latency)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if all(r["exit_code"] == 0 for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
