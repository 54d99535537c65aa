"""Measure what importing the provider adds to parsing a DAG file, beyond ``import airflow.sdk``.

Every sample is a fresh interpreter (nothing cached in ``sys.modules``) that times, with
``time.perf_counter`` so interpreter start-up is left out, either

(a) ``import airflow.sdk`` alone, or
(b) ``import airflow.sdk`` and then the provider modules that ``dags/blip_whatsapp_notifications.py``
    imports (:data:`PROVIDER_MODULES`).

The two kinds run in pairs, in alternating order, ``--repeats`` times (default 15) after one
unmeasured warm-up pair (byte-code compiled, files in the page cache). ``added_ms`` is the median
of the per-pair differences (b) - (a), the goal is at most 50 ms. Importing airflow.sdk takes about
two seconds and varies by 60-100 ms from process to process (more on a busy machine), which can
swamp a difference of a few tens of ms. So the result also gives ``in_process_added_ms``: the
median time the provider imports took inside the (b) processes themselves, the same cost without
the process-to-process noise (it moves by a few ms between runs).
``heavy_modules_loaded`` lists the modules of :data:`HEAVY_MODULES` found after (b) but not
after (a).

Airflow needs no database for this: each run gets a throwaway ``AIRFLOW_HOME`` and
``AIRFLOW__CORE__LOAD_EXAMPLES=False``.

Usage::

    .venv/bin/python bench/parse_cost.py [--repeats 15] [--json bench/results/parse_cost.json]

Prints ``{"name": "parse_cost", "baseline_ms", "with_provider_ms", "added_ms", "goal_ms", ...}``
as JSON; :func:`run` returns the same dict for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL_MS = 50
#: What dags/blip_whatsapp_notifications.py imports from the provider, plus the notifier.
PROVIDER_MODULES = (
    "airflow_provider_blip.operators.blip",
    "airflow_provider_blip.operators.lists",
    "airflow_provider_blip.operators.notify",
    "airflow_provider_blip.sensors.blip",
    "airflow_provider_blip.notifications.blip",
)
#: Modules too slow to import at parse time; the provider should load them on first use.
HEAVY_MODULES = ("requests", "phonenumbers", "pendulum.parser", "tenacity", "urllib3")

# Runs in the fresh interpreter: argv[1] is the JSON list of modules to import after airflow.sdk.
CHILD = """\
import json, sys, time
modules = json.loads(sys.argv[1])
start = time.perf_counter()
import airflow.sdk
sdk_done = time.perf_counter()
for name in modules:
    __import__(name)
end = time.perf_counter()
heavy = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
print(json.dumps({"total_ms": (end - start) * 1e3, "provider_ms": (end - sdk_done) * 1e3, "heavy": heavy}))
"""


def sample(modules: tuple[str, ...], env: dict[str, str]) -> dict[str, Any]:
    """Run one fresh interpreter and return its timings and the heavy modules it ended up with."""
    command = [sys.executable, "-c", CHILD, json.dumps(modules), json.dumps(HEAVY_MODULES)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if done.returncode:
        raise RuntimeError(f"import run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    # Only the last line: Airflow may print warnings of its own first.
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def sample_pair(index: int, env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (baseline, with provider), run in alternating order so drift hits both alike."""
    if index % 2:
        with_provider = sample(PROVIDER_MODULES, env)
        return sample((), env), with_provider
    baseline = sample((), env)
    return baseline, sample(PROVIDER_MODULES, env)


def child_env(airflow_home: str) -> dict[str, str]:
    env = {**os.environ, "AIRFLOW_HOME": airflow_home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiling sources each run would inflate (b)
    return env


def run(repeats: int = 15) -> dict[str, Any]:
    """Measure ``repeats`` pairs of fresh imports and return the result dict (see module doc)."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="blip-parse-cost-") as airflow_home:
        env = child_env(airflow_home)
        sample_pair(0, env)  # warm-up: byte-code and page cache, not measured
        pairs = [sample_pair(i, env) for i in range(repeats)]
    baselines = [a["total_ms"] for a, _ in pairs]
    with_provider = [b["total_ms"] for _, b in pairs]
    heavy_before = {name for a, _ in pairs for name in a["heavy"]}
    heavy_after = {name for _, b in pairs for name in b["heavy"]}
    in_process = round(statistics.median(b["provider_ms"] for _, b in pairs), 1)
    return {
        "name": "parse_cost",
        "baseline_ms": round(statistics.median(baselines), 1),
        "with_provider_ms": round(statistics.median(with_provider), 1),
        "added_ms": round(statistics.median(b["total_ms"] - a["total_ms"] for a, b in pairs), 1),
        "in_process_added_ms": in_process,
        "goal_ms": GOAL_MS,
        # Judged on the in-process time: the paired difference of two interpreter start-ups
        # varies by more than the goal itself on a busy machine (it stays in the result).
        "goal": {"in_process_added_ms": f"<= {GOAL_MS}"},
        "met": in_process <= GOAL_MS and not (heavy_after - heavy_before),
        "heavy_modules_loaded": sorted(heavy_after - heavy_before),
        "repeats": repeats,
        "command": f".venv/bin/python bench/parse_cost.py --repeats {repeats}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=15, help="measured pairs of runs (default 15)")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)
    text = json.dumps(run(args.repeats))
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
