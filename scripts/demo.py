"""Run an example DAG against the Blip emulator in a throwaway Airflow home.

Used by ``./scripts/demo``: starts the emulator on a free loopback port, migrates a fresh
sqlite Airflow home, points ``blip_default`` at the emulator and runs ``airflow dags test``
on the notification job with its sample audience, then prints the run's report again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_blip.emulator import BlipEmulator, EmulatorConfig

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DAG = "blip_whatsapp_notifications"
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
    return env


def run_and_collect_report(command: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """Stream the command's output and keep the report block it prints."""
    report: list[str] = []
    inside = False
    pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    with subprocess.Popen(command, env=env, **pipe) as proc:  # type: ignore[call-overload]
        for line in proc.stdout or ():
            sys.stdout.write(line)
            if line.startswith("Blip notification run:"):
                inside, report = True, []
            elif inside and LOG_LINE.match(line):
                inside = False
            if inside:
                report.append(line.rstrip("\n"))
    return proc.returncode, report


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
        code, report = run_and_collect_report(command, env)
        stats = emulator.stats()
    print("\n" + "=" * 100)
    print("\n".join(report) if report else f"(no report printed; {args.dag} exited with {code})")
    print(f"\nThe emulator received {stats['requests']} (responses {stats['responses']})")
    return code


if __name__ == "__main__":
    sys.exit(main())
