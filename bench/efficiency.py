"""Measure how close the notification job comes to the least time the paid plan's rates allow.

The emulator runs in strict mode (``--strict``: the paid plan, 50 messages/s and 200
commands/s, counted in any sliding one-second window at arrival, 20 ms of arrival jitter,
and a 120 s lockout of the channel after any excess) with a 0.1 s answer latency. The
connection keeps its default rates (the paid plan), so the provider paces itself on the
client side. The job is the real one (``harness.run_job``): ``BlipSplitAudienceOperator``,
then ``BlipNotifyOperator`` on each chunk, every recipient looked up, sent the template,
moved in the flow behind a router (``master-state`` then the state), added to a list, and
its status read once.

The least time is what the rates allow for what one recipient needs (a message; a lookup,
two context sets, a list add and a status read on the commands channel), times the
recipients: ``max(N / 50, 5 N / 200)``. ``ratio = wall / least``; the goal is at most 1.10,
with nothing refused (``refused == 0``). The clock covers ``run_job`` only: Airflow and the
provider are imported before it starts, as in a worker.

Usage::

    .venv/bin/python bench/efficiency.py [--rows 2000] [--json bench/results/efficiency.json]

Prints ``{"name": "efficiency", "wall_s", "least_s", "ratio", "refused", "requests", ...}`` as
JSON; :func:`run` returns the same dict for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

GOAL_RATIO = 1.10
#: Requests one recipient needs per channel (see the module docstring).
PER_RECIPIENT = {"messages": 1, "commands": 5}


def run(rows: int = 2000, latency: float = 0.1) -> dict[str, Any]:
    """Run the job on ``rows`` recipients against the rate-limited emulator; return the result."""
    harness.isolate_airflow()
    # Imported before the clock starts: a worker has Airflow loaded before a task runs.
    import airflow_provider_blip.operators.notify  # noqa: F401
    from airflow_provider_blip.utils.ratelimit import PAID_PLAN_RATES

    with tempfile.TemporaryDirectory(prefix="blip-efficiency-") as tmp:
        audience = harness.write_audience(Path(tmp) / "audience.csv", rows)
        with harness.Emulator("--strict", "--latency", str(latency)) as emulator:
            harness.use_connection(emulator.url)  # default extras: the paid plan's rates
            start = time.perf_counter()
            outputs = harness.run_job(
                audience,
                f"efficiency-{uuid.uuid4().hex[:8]}",
                master_state="subbot@msging.net",
                list_name="bench-list",
            )
            wall = time.perf_counter() - start
            stats = emulator.stats()

    requests = stats["requests"]
    sent = sum(output["messages"] for output in outputs)
    per_channel = {c: sent * n / PAID_PLAN_RATES[c] for c, n in PER_RECIPIENT.items()}
    least = max(per_channel.values())
    ratio = wall / least
    counts: dict[str, int] = {}
    for output in outputs:
        for status, n in output["counts"].items():
            counts[status] = counts.get(status, 0) + n
    return {
        "name": "efficiency",
        "rows": rows,
        "latency_s": latency,
        "wall_s": round(wall, 2),
        "least_s": round(least, 2),
        "least_by_channel_s": {c: round(s, 2) for c, s in per_channel.items()},
        "bound_by": max(per_channel, key=per_channel.__getitem__),
        "ratio": round(ratio, 3),
        "refused": stats["refused"],
        "requests": requests,
        "plan_rates": PAID_PLAN_RATES,
        "statuses": counts,
        "goal": {"ratio": f"<= {GOAL_RATIO}", "refused": "== 0"},
        "met": ratio <= GOAL_RATIO and stats["refused"] == 0,
        "command": harness.command_line("efficiency.py", "--rows", rows, "--latency", latency),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=2000, help="recipients (default 2000)")
    parser.add_argument("--latency", type=float, default=0.1, help="emulator answer latency, s (default 0.1)")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)
    with harness.logs_to_stderr():
        result = run(rows=args.rows, latency=args.latency)
    harness.emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
