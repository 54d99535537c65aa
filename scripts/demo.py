"""Run an example DAG against the Blip emulator in a throwaway Airflow home.

Used by ``./scripts/demo``: starts the emulator on a free loopback port, migrates a fresh
sqlite Airflow home, points ``blip_default`` at the emulator and runs ``airflow dags test``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_blip.emulator import BlipEmulator, EmulatorConfig

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DAG = "blip_hello_whatsapp"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag", default=DEFAULT_DAG, help="the DAG id to run")
    parser.add_argument("--latency", type=float, default=0.02, help="emulator latency, seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="blip-demo-") as home:
        config = EmulatorConfig(
            latency=args.latency,
            delivery_delays={"accepted": 0.0, "dispatched": 0.05, "received": 0.1, "consumed": 0.3},
        )
        with BlipEmulator(config) as emulator:
            env = airflow_env(home, emulator)
            print(f"Blip emulator on {emulator.url}; Airflow home {home}", flush=True)
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", args.dag], env=env)
            stats = emulator.stats()
            print(f"\nThe emulator received: {json.dumps(stats, sort_keys=True)}")
        return run.returncode


if __name__ == "__main__":
    sys.exit(main())
