"""Run an example DAG against the Blip emulator in a throwaway Airflow home.

Used by ``./scripts/demo``: starts the emulator on a free loopback port, migrates a fresh
sqlite Airflow home, points ``blip_default`` at the emulator and runs ``airflow dags test``
on the notification job with its sample audience, then prints the run's report again.

The Airflow home is deleted at the end; the run files (chunks, results, delivery statuses)
are kept in ``./blip-demo-runs``, so that the paths the report prints still exist.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from blip_emulator import BlipEmulator, EmulatorConfig

from airflow_provider_blip.utils.runfiles import ROOT_ENV

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DAG = "blip_whatsapp_notifications"
#: Where the demo's run files go: outside the throwaway home, which is gone when the report
#: is printed, and ignored by git (the folder carries its own .gitignore).
RUNS_DIR = ROOT / "blip-demo-runs"
#: Airflow's task client logs, at error level, the 404 that ends a loop over a mapped
#: task's results (the report reads every chunk's): a successful run may show it.
XCOM_END_OF_LIST = re.compile(r"XCom not found.*offset=\d+.*status_code=404")
XCOM_NOTE = (
    "Note: the '[error] XCom not found ... offset=N ... 404' line above is Airflow's, not a failure.\n"
    "A task that loops over a mapped task's results reads them one offset at a time until the\n"
    "first one that does not exist; Airflow logs that last 404 at error level. See\n"
    "docs/troubleshooting.md."
)
# In the sample audience, row 8's handset is "broken": the emulator fails its delivery.
FAILING_NUMBERS = {"+5511955550004": (42, "Destination not found")}
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT")


def airflow_env(home: str, emulator: BlipEmulator) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_BLIP_DEFAULT=json.dumps(
            {"conn_type": "blip", "host": emulator.url, "password": emulator.key}
        ),
    )
    if ROOT_ENV not in env:  # a runs path the caller chose wins
        env[ROOT_ENV] = str(runs_dir())
    return env


def runs_dir() -> Path:
    """Make the folder that keeps the demo's run files, ignored by git."""
    RUNS_DIR.mkdir(exist_ok=True)
    (RUNS_DIR / ".gitignore").write_text("# the demo's run files (scripts/demo.py)\n*\n", "utf-8")
    return RUNS_DIR


@dataclasses.dataclass
class RunOutput:
    """What the demo keeps of the ``airflow dags test`` output it streams."""

    code: int = 0
    report: list[str] = dataclasses.field(default_factory=list)
    xcom_end_of_list: bool = False


def run_and_collect_report(command: list[str], env: dict[str, str]) -> RunOutput:
    """Stream the command's output and keep the report block it prints."""
    out = RunOutput()
    report: list[str] = []
    inside = False
    pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    with subprocess.Popen(command, env=env, **pipe) as proc:  # type: ignore[call-overload]
        for line in proc.stdout or ():
            sys.stdout.write(line)
            out.xcom_end_of_list = out.xcom_end_of_list or bool(XCOM_END_OF_LIST.search(line))
            if line.startswith("Blip notification run:"):
                inside, report = True, []
            elif inside and LOG_LINE.match(line):
                inside = False
            if inside:
                report.append(line.rstrip("\n"))
    out.code, out.report = proc.returncode, report
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag", default=DEFAULT_DAG, help="the DAG id to run")
    parser.add_argument("--conf", default=None, help='JSON run conf, e.g. \'{"list_name": "vip"}\'')
    parser.add_argument("--latency", type=float, default=0.02, help="emulator latency, seconds")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        latency=args.latency,
        failing_numbers=dict(FAILING_NUMBERS),
        delivery_delays={"accepted": 0.0, "dispatched": 0.05, "received": 0.1, "consumed": 0.3},
    )
    with tempfile.TemporaryDirectory(prefix="blip-demo-") as home, BlipEmulator(config) as emulator:
        env = airflow_env(home, emulator)
        print(f"Blip emulator on {emulator.url}; throwaway Airflow home {home}", flush=True)
        airflow = [sys.executable, "-m", "airflow"]
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        command = [*airflow, "dags", "test", args.dag] + (["--conf", args.conf] if args.conf else [])
        out = run_and_collect_report(command, env)
        stats = emulator.stats()
    print("\n" + "=" * 100)
    print("\n".join(out.report) if out.report else f"(no report printed; {args.dag} exited with {out.code})")
    print(f"\nThe emulator received {stats['requests']} (responses {stats['responses']})")
    if out.xcom_end_of_list and out.code == 0:
        print("\n" + XCOM_NOTE)
    print(f"\nRun files kept in {env[ROOT_ENV]} (delete the folder whenever you like).")
    return out.code


if __name__ == "__main__":
    sys.exit(main())
