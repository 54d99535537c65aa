"""What the benchmarks share: the emulator in its own process, audiences, and the job itself.

The job is run the way one Airflow worker runs it: ``BlipSplitAudienceOperator`` once, then
``BlipNotifyOperator`` for each chunk in turn, in this process, against the emulator started
with the CLI (``python -m blip_emulator``) in another process, so the two
never share an interpreter lock.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_blip.utils.refs import ChunkOutcome

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789"
TEMPLATE: dict[str, Any] = {
    "template_name": "order_update",
    "language": "pt_BR",
    "body_columns": ["name", "order_id"],
}
FLOW: dict[str, Any] = {"flow_id": "notifications-flow", "state_id": "order-update-followup"}


class Emulator:
    """The emulator CLI in a subprocess; ``url`` once it listens, ``stats()`` from its admin API."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "blip_emulator", "--port", "0", "--key", KEY, *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        assert self.process.stdout is not None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.process.stdout.readline()
            match = re.search(r"http://[\d.]+:\d+", line)
            if match:
                return match.group(0)
            if not line and self.process.poll() is not None:
                break
        self.process.kill()
        raise RuntimeError("the emulator did not start")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=30) as response:
            stats: dict[str, Any] = json.load(response)
        return stats

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def use_connection(url: str, **extra: object) -> None:
    """Point ``blip_default`` at the emulator (env var, as a deployment's secrets would)."""
    conn = {"conn_type": "blip", "host": url, "password": KEY, "extra": extra}
    os.environ["AIRFLOW_CONN_BLIP_DEFAULT"] = json.dumps(conn)


def isolate_airflow() -> Path:
    """Give Airflow a throw-away home (no DB is needed to run operators directly)."""
    home = Path(tempfile.mkdtemp(prefix="blip-bench-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # audiences and run files go too
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return home


def write_audience(path: Path, rows: int) -> Path:
    """Write a CSV of ``rows`` distinct valid Brazilian mobile numbers with template values."""
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,name,order_id\n")
        for i in range(rows):
            out.write(f"+55119{i:08d},Cliente {i},#{i}\n")
    return path


def context(task_id: str, run_id: str, map_index: int = -1, try_number: int = 1) -> Context:
    """The part of a task context the operators read (what the worker's task runner provides)."""
    ti = SimpleNamespace(
        dag_id="blip_bench", run_id=run_id, task_id=task_id, map_index=map_index, try_number=try_number
    )
    return cast("Context", {"ti": ti})


def run_job(
    audience: Path,
    run_id: str,
    *,
    flow: bool = True,
    chunk_size: int = 1000,
    xcom_sizes: list[int] | None = None,
    **notify_args: Any,
) -> list[ChunkOutcome]:
    """Split, then notify every chunk in turn; return each chunk's XCom value.

    :param notify_args: more arguments of ``BlipNotifyOperator`` (``master_state``, ``list_name``...).
    """
    from airflow_provider_blip.operators.notify import BlipNotifyOperator, BlipSplitAudienceOperator

    split = BlipSplitAudienceOperator(task_id="split", audience=str(audience), chunk_size=chunk_size)
    chunks = split.execute(context("split", run_id))
    _note(xcom_sizes, chunks)
    outputs = []
    for chunk in chunks:
        flow_args = FLOW if flow else {}
        notify = BlipNotifyOperator(task_id="notify", chunk=chunk, **TEMPLATE, **flow_args, **notify_args)
        output = notify.execute(context("notify", run_id, map_index=chunk["index"]))
        _note(xcom_sizes, output)
        outputs.append(output)
    return outputs


def _note(sizes: list[int] | None, value: Any) -> None:
    if sizes is not None:
        sizes.append(len(json.dumps(value)))


# -- reporting (shared by efficiency.py, headroom.py, memory.py and run.py) -----------------


def command_line(script: str, *options: object) -> str:
    """Return the shell command that reproduces a measurement, run from the repository root."""
    return " ".join([".venv/bin/python", f"bench/{script}", *(str(o) for o in options)])


def emit(result: dict[str, Any], json_path: str | None) -> None:
    """Print ``result`` as JSON on stdout and, with ``json_path``, write it there too."""
    text = json.dumps(result, indent=2)
    print(text)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(text + "\n", encoding="utf-8")


def machine() -> dict[str, Any]:
    """Describe where the numbers were measured: CPUs, Python, platform, date (UTC)."""
    import datetime
    import platform

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


class logs_to_stderr:  # used as a context manager, named like one
    """Send everything written to file descriptor 1 to fd 2 until exit (Airflow logs to stdout).

    The benchmarks print their JSON result on stdout; task logs would be mixed into it.
    """

    def __enter__(self) -> None:
        sys.stdout.flush()
        self._saved = os.dup(1)
        os.dup2(2, 1)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
