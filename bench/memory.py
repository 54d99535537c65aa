"""Measure the peak memory of one worker running a 1,000,000-row notification job end to end.

The job is the real one (``harness.run_job(..., flow=False)``): ``BlipSplitAudienceOperator``
over a CSV of ``--rows`` distinct valid numbers, then ``BlipNotifyOperator`` on every chunk in
turn (lookup and template per recipient), with connection extras ``concurrency=64`` and every
client-side rate at 0. The emulator runs with no latency and no rate limit, in its own process,
and keeps only its last ``--emulator-keep`` records and messages (its memory is not measured;
its contact roster still grows by one entry per lookup).

The measured worker is a separate process (``memory.py --worker``) started for this run only.
It reports its peak resident set size twice: after importing Airflow and the provider
(``baseline_rss_mb``, what any task pays) and after the job (``peak_rss_mb``). The peak is
``VmHWM`` from ``/proc/self/status``; ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is reported
too (``ru_maxrss_mb``), but Linux carries it over from the parent across fork and exec, so it
reads the parent's size when the parent is bigger (as ``bench/run.py`` is, after the other
benchmarks). It also reports every XCom value the job produced: how many, and the largest
one in bytes of JSON (the split's list of chunk references; each notify's counts). The
emulator's message count must equal the number of valid rows.

Goals: peak RSS at most 300 MB, largest XCom at most 65,536 bytes (64 KB).

``--trace`` (for diagnosis, on a smaller run) adds a ``tracemalloc`` view taken when traced
memory was highest: the top allocation sites and their size.

Usage::

    .venv/bin/python bench/memory.py [--rows 1000000] [--concurrency 64] [--trace]
        [--json bench/results/memory.json]

Prints ``{"name": "memory", "peak_rss_mb", "baseline_rss_mb", "largest_xcom_bytes", ...}`` as
JSON; :func:`run` returns the same dict for ``bench/run.py``. 1,000,000 rows take about half an
hour on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

GOAL_RSS_MB = 300
GOAL_XCOM_BYTES = 65_536
NO_LIMITS = {"messages_per_second": 0, "commands_per_second": 0, "notifications_per_second": 0}


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _peak_mb() -> float:
    """This process's own peak RSS (``VmHWM``); ``ru_maxrss`` where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _maxrss_mb()


class _PeakTracer:
    """Sample tracemalloc every ``interval`` s; keep the snapshot taken at the highest point."""

    def __init__(self, interval: float = 0.5) -> None:
        import tracemalloc

        self._tracemalloc = tracemalloc
        self.interval = interval
        self.best = 0
        self.snapshot: Any = None
        self._stop = threading.Event()
        tracemalloc.start(8)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            current, _ = self._tracemalloc.get_traced_memory()
            if current > self.best * 1.05:
                self.best = current
                self.snapshot = self._tracemalloc.take_snapshot()

    def report(self, top: int = 15) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        _, peak = self._tracemalloc.get_traced_memory()
        self._tracemalloc.stop()
        sites = []
        if self.snapshot is not None:
            for stat in self.snapshot.statistics("traceback")[:top]:
                frames = [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in stat.traceback]
                sites.append({"mb": round(stat.size / 2**20, 2), "count": stat.count, "where": frames[-4:]})
        return {
            "traced_peak_mb": round(peak / 2**20, 1),
            "snapshot_mb": round(self.best / 2**20, 1),
            "top_sites": sites,
        }


def worker(audience: Path, url: str, concurrency: int, trace: bool) -> dict[str, Any]:
    """Run the job in this process (the measured one) and report its memory and XComs."""
    home = harness.isolate_airflow()
    harness.use_connection(url, concurrency=concurrency, **NO_LIMITS)
    import airflow.sdk  # noqa: F401

    import airflow_provider_blip.operators.notify  # noqa: F401

    baseline = _peak_mb()
    tracer = _PeakTracer() if trace else None
    sizes: list[int] = []
    start = time.perf_counter()
    outputs = harness.run_job(audience, f"memory-{uuid.uuid4().hex[:8]}", flow=False, xcom_sizes=sizes)
    wall = time.perf_counter() - start
    result: dict[str, Any] = {
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_peak_mb(), 1),
        "ru_maxrss_mb": round(_maxrss_mb(), 1),
        "wall_s": round(wall, 1),
        "xcom_values": len(sizes),
        "largest_xcom_bytes": max(sizes),
        "split_xcom_bytes": sizes[0],
        "largest_notify_xcom_bytes": max(sizes[1:], default=0),
        "chunks": len(outputs),
        "rows_reported": sum(o["rows"] for o in outputs),
        "messages_reported": sum(o["messages"] for o in outputs),
    }
    if tracer is not None:
        result["tracemalloc"] = tracer.report()
    shutil.rmtree(home, ignore_errors=True)  # the chunk and result files: ~250 bytes per row
    return result


def _emulator_peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _configure(url: str, **knobs: Any) -> None:
    request = urllib.request.Request(
        f"{url}/_emulator/config",
        data=json.dumps(knobs).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def run(
    rows: int = 1_000_000, concurrency: int = 64, trace: bool = False, emulator_keep: int = 10_000
) -> dict[str, Any]:
    """Write the audience, start the emulator, run the job in a fresh worker process."""
    with tempfile.TemporaryDirectory(prefix="blip-memory-") as tmp:
        audience = harness.write_audience(Path(tmp) / "audience.csv", rows)
        with harness.Emulator("--latency", "0", "--rate-limit", "off") as emulator:
            _configure(emulator.url, max_records=emulator_keep, max_messages=emulator_keep)
            command = [sys.executable, __file__, "--worker", "--audience", str(audience)]
            command += ["--url", emulator.url, "--concurrency", str(concurrency)]
            command += ["--trace"] if trace else []
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=harness.REPO, check=False)
            if done.returncode:
                raise RuntimeError(f"the worker failed ({done.returncode}); its log is above")
            measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            stats = emulator.stats()
            emulator_mb = _emulator_peak_mb(emulator.process.pid)

    messages = stats["requests"]["messages"]
    options: list[object] = ["--rows", rows, "--concurrency", concurrency]
    options += ["--trace"] if trace else []
    return {
        "name": "memory",
        "rows": rows,
        "concurrency": concurrency,
        **measured,
        "added_rss_mb": round(measured["peak_rss_mb"] - measured["baseline_rss_mb"], 1),
        "emulator_messages": messages,
        "emulator_requests": stats["requests"],
        "messages_match": messages == rows == measured["messages_reported"],
        "emulator_peak_rss_mb": emulator_mb,
        "goal": {"peak_rss_mb": f"<= {GOAL_RSS_MB}", "largest_xcom_bytes": f"<= {GOAL_XCOM_BYTES}"},
        "met": measured["peak_rss_mb"] <= GOAL_RSS_MB and measured["largest_xcom_bytes"] <= GOAL_XCOM_BYTES,
        "command": harness.command_line("memory.py", *options),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="audience rows (default 1,000,000)")
    parser.add_argument("--concurrency", type=int, default=64, help="recipients in flight (default 64)")
    parser.add_argument("--trace", action="store_true", help="add a tracemalloc view of the peak (slower)")
    parser.add_argument(
        "--emulator-keep", type=int, default=10_000, help="records and messages the emulator keeps"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--audience", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # the measured process: one JSON line on stdout, logs on stderr
        with harness.logs_to_stderr():
            result = worker(args.audience, args.url, args.concurrency, args.trace)
        print(json.dumps(result))
        return 0
    with harness.logs_to_stderr():
        result = run(
            rows=args.rows, concurrency=args.concurrency, trace=args.trace, emulator_keep=args.emulator_keep
        )
    harness.emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
