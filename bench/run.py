"""Run the provider's benchmarks in sequence, save the results, regenerate the table in the docs.

The benchmarks (each also runs on its own; see its module docstring):

- ``efficiency``: job time against the least time the paid plan's rates allow (bench/efficiency.py);
- ``headroom``: sends/s of one worker, provider against a ``requests.post`` loop (bench/headroom.py);
- ``memory``: peak RSS and largest XCom of a 1,000,000-row job (bench/memory.py, ~30 min);
- ``parse_cost``: what importing the provider adds to parsing a DAG file (bench/parse_cost.py).

Results go to ``bench/results/latest.json`` with the machine they ran on; the table between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` in ``docs/performance.md`` is rewritten from
that file. A benchmark left out of this run (``--only``, ``--skip-memory``) keeps its earlier
result in latest.json, with its own date. ``--use NAME=PATH`` takes a benchmark's result from
the JSON its script wrote with ``--json`` instead of running it (e.g. a long memory run).

Usage::

    .venv/bin/python bench/run.py [--quick] [--only NAME ...] [--skip-memory]
        [--use memory=/tmp/memory-1m.json]

``--quick`` shrinks the runs (memory on 50,000 rows, a 3 s headroom baseline and 3,000 sends,
1,000 efficiency rows, 5 parse-cost pairs); the table says so. It prints the results as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

BENCH = Path(__file__).resolve().parent
LATEST = BENCH / "results" / "latest.json"
DOC = harness.REPO / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ORDER = ("efficiency", "dag_efficiency", "headroom", "memory", "parse_cost")

FULL: dict[str, dict[str, Any]] = {
    "efficiency": {"rows": 2000},
    "dag_efficiency": {"sizes": [1000, 10000], "latency": 0.05},
    "headroom": {"duration": 10.0, "sends": 6000, "concurrency": 128, "repeats": 3, "variants": (256,)},
    "memory": {"rows": 1_000_000, "concurrency": 64},
    "parse_cost": {"repeats": 15},
}
QUICK: dict[str, dict[str, Any]] = {
    "efficiency": {"rows": 1000},
    "dag_efficiency": {"sizes": [1000], "latency": 0.05},
    "headroom": {"duration": 3.0, "sends": 3000, "concurrency": 128, "repeats": 1, "variants": (256,)},
    "memory": {"rows": 50_000, "concurrency": 64},
    "parse_cost": {"repeats": 5},
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def measure(name: str, quick: bool) -> dict[str, Any]:
    """Run one benchmark's ``run()``; an error becomes a result saying so."""
    kwargs = (QUICK if quick else FULL)[name]
    started = _now()
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return {
            "name": name,
            "error": f"bench/{name}.py could not be imported: {exc}",
            "measured_at": started,
        }
    try:
        result: dict[str, Any] = module.run(**kwargs)
    except Exception as exc:  # one failing benchmark must not lose the others' results
        traceback.print_exc()
        return {"name": name, "error": f"{type(exc).__name__}: {exc}", "measured_at": started}
    result["measured_at"] = started
    result["quick"] = quick
    return result


def load(path: Path) -> dict[str, Any]:
    """Read a results file, or an empty one."""
    if not path.exists():
        return {"results": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- the table ------------------------------------------------------------------------------


def _yes(flag: bool | None) -> str:
    return "—" if flag is None else ("yes" if flag else "**no**")


Row = tuple[str, str, str, bool | None, str]


def _efficiency(r: dict[str, Any], quick: str, command: str) -> list[Row]:
    from efficiency import GOAL_RATIO

    measured = f"{r['ratio']:.2f} ({r['wall_s']:.1f} s / {r['least_s']:.1f} s; bound by {r['bound_by']})"
    return [
        (
            f"Job time / least time, strict emulator, router and list on, {r['rows']:,} recipients{quick}",
            measured,
            f"≤ {GOAL_RATIO}",
            r["ratio"] <= GOAL_RATIO,
            command,
        ),
        ("Requests refused (429) in that run", str(r["refused"]), "0", r["refused"] == 0, command),
    ]


def _dag_efficiency(r: dict[str, Any], quick: str, command: str) -> list[Row]:
    rows: list[Row] = []
    for run in r["runs"]:
        measured = (
            f"{run['ratio']:.3f} ({run['job_time_s']:.1f} s / {run['least_s']:.1f} s, Airflow's "
            f"{r['fixed_cost_s']:.1f} s for one recipient subtracted); refused: {run['refused']}"
        )
        label = (
            f"The example DAG by `airflow dags test`, strict emulator, router and list on, "
            f"{run['rows']:,} recipients{quick}"
        )
        rows.append((label, measured, "≤ 1.10, 0 refused", bool(run["met"]), command))
    return rows


def _headroom(r: dict[str, Any], quick: str, command: str) -> list[Row]:
    from headroom import GOAL_RATE, GOAL_RATIO

    runs = r.get("provider_runs_per_s", [])
    spread = f" (median of {', '.join(f'{x:,.0f}' for x in runs)})" if len(runs) > 1 else ""
    rows: list[Row] = [
        (
            f"Sends/s of one worker: provider / `requests.post` loop{quick}",
            f"{r['ratio']:.0f}× ({r['provider_per_s']:,.0f} / {r['baseline_per_s']:.1f})",
            f"≥ {GOAL_RATIO}×",
            r["ratio"] >= GOAL_RATIO,
            command,
        ),
        (
            f"Provider sends/s, concurrency {r['provider']['concurrency']}{quick}",
            f"{r['provider_per_s']:,.0f}{spread}",
            f"≥ {GOAL_RATE:,}",
            r["provider_per_s"] >= GOAL_RATE,
            command,
        ),
    ]
    for v in r.get("variants", []):
        label = f"Provider sends/s, concurrency {v['concurrency']}{quick}"
        rows.append((label, f"{v['per_s']:,.0f}", "(reported)", None, command))
    return rows


def _memory(r: dict[str, Any], quick: str, command: str) -> list[Row]:
    from memory import GOAL_RSS_MB, GOAL_XCOM_BYTES

    rss = (
        f"{r['peak_rss_mb']:.0f} MB ({r['baseline_rss_mb']:.0f} MB after imports, "
        f"+{r['added_rss_mb']:.0f} MB; job {r['wall_s'] / 60:.0f} min)"
    )
    return [
        (
            f"Peak RSS of the worker, {r['rows']:,} rows{quick}",
            rss,
            f"≤ {GOAL_RSS_MB} MB",
            r["peak_rss_mb"] <= GOAL_RSS_MB,
            command,
        ),
        (
            f"Largest XCom value ({r['xcom_values']} values){quick}",
            f"{r['largest_xcom_bytes']:,} bytes",
            f"≤ {GOAL_XCOM_BYTES:,} bytes",
            r["largest_xcom_bytes"] <= GOAL_XCOM_BYTES,
            command,
        ),
        (
            "Messages the emulator received = valid rows",
            f"{r['emulator_messages']:,} = {r['rows']:,}",
            "equal",
            r["messages_match"],
            command,
        ),
    ]


def _parse_cost(r: dict[str, Any], quick: str, command: str) -> list[Row]:
    goal = r.get("goal_ms", 50)
    met = r.get("met", r["added_ms"] <= goal)
    measured = (
        f"{r['in_process_added_ms']:.0f} ms timed in process (paired start-ups: {r['added_ms']:.0f} ms, "
        f"{r['baseline_ms']:.0f} → {r['with_provider_ms']:.0f} ms, too noisy to judge)"
    )
    label = f"DAG parse time added by the provider's imports{quick}"
    return [(label, measured, f"≤ {goal} ms", bool(met), command)]


ROWS = {
    "efficiency": _efficiency,
    "dag_efficiency": _dag_efficiency,
    "headroom": _headroom,
    "memory": _memory,
    "parse_cost": _parse_cost,
}


def rows_for(result: dict[str, Any]) -> list[Row]:
    """Return the table rows (figure, measured, goal, met, command) of one result."""
    name, command = result["name"], f"`{result.get('command', '')}`"
    if "error" in result:
        return [(name, f"not measured: {result['error']}", "", None, command)]
    quick = " (quick)" if result.get("quick") else ""
    return ROWS[name](result, quick, command)


def table(data: dict[str, Any]) -> str:
    """Render the results as the Markdown table that goes between the markers."""
    lines = ["| Figure | Measured | Goal | Met | Command |", "|---|---|---|---|---|"]
    results = data.get("results", {})
    for name in ORDER:
        if name in results:
            for figure, measured, goal, met, command in rows_for(results[name]):
                lines.append(f"| {figure} | {measured} | {goal} | {_yes(met)} | {command} |")
    machine = data.get("machine", {})
    dates = sorted({r["measured_at"][:10] for r in results.values() if r.get("measured_at")})
    lines.append("")
    lines.append(
        f"Machine: {machine.get('cpu_count', '?')} CPUs, Python {machine.get('python', '?')}, "
        f"{machine.get('platform', '?')}. Measured on {', '.join(dates) or '?'}. "
        "Full results: `bench/results/latest.json`."
    )
    if any(r.get("quick") for r in results.values()):
        quick = ", ".join(n for n in ORDER if results.get(n, {}).get("quick"))
        lines.append("")
        lines.append(f"**Quick run** (`bench/run.py --quick`, smaller than the goals ask) for: {quick}.")
    return "\n".join(lines)


def write_table(data: dict[str, Any], doc: Path = DOC) -> None:
    """Replace the text between the markers in ``doc`` with :func:`table`."""
    text = doc.read_text(encoding="utf-8")
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{doc} has no {START} ... {END} markers")
    doc.write_text(f"{head}{START}\n{table(data)}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (the table says so)")
    parser.add_argument("--only", nargs="+", choices=ORDER, metavar="NAME", help=f"run only these: {ORDER}")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the memory run")
    parser.add_argument(
        "--use",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="take NAME's result from a JSON file its script wrote (--json) instead of running it",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args(argv)

    used: dict[str, dict[str, Any]] = {}
    for item in args.use:
        name, _, path = item.partition("=")
        if name not in ORDER or not path:
            parser.error(f"--use takes NAME=PATH with NAME in {ORDER}, got {item!r}")
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        mtime = datetime.datetime.fromtimestamp(Path(path).stat().st_mtime, datetime.UTC)
        result.setdefault("measured_at", mtime.isoformat(timespec="seconds"))
        used[name] = result

    names = [n for n in (args.only or ORDER) if not (args.skip_memory and n == "memory") and n not in used]
    fresh: dict[str, dict[str, Any]] = dict(used)
    with harness.logs_to_stderr():
        for name in names:
            print(f"bench/run.py: {name}...", file=sys.stderr, flush=True)
            fresh[name] = measure(name, args.quick)

    data = load(LATEST)  # read now, not at start: keeps what another run wrote meanwhile
    data["machine"] = harness.machine()
    data.setdefault("results", {}).update(fresh)
    data["results"] = {n: data["results"][n] for n in ORDER if n in data["results"]}
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    LATEST.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not args.no_doc:
        write_table(data)
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
