"""A real Airflow on loopback: scheduler, dag-processor, triggerer and api-server, as processes.

The fixture ``airflow_stack`` migrates a throwaway sqlite Airflow home, starts the four
components with the LocalExecutor and the repository's ``dags/``, points ``blip_default`` at
an emulator running in this test process, and always stops them again (SIGTERM to each
process group, SIGKILL after a grace period). When a test fails, the tail of every
component's log, and of the newest task logs, is attached to its report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests
from blip_emulator import BlipEmulator, EmulatorConfig

from airflow_provider_blip.utils.runfiles import ROOT_ENV
from tests.conftest import DAGS_FOLDER, TEST_KEY
from tests.dags.conftest import FAILING

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator
    from pathlib import Path

#: The components, each one ``airflow <command>`` process; the api-server's port is appended.
COMPONENTS: tuple[tuple[str, ...], ...] = (
    ("scheduler",),
    ("dag-processor",),
    ("triggerer",),
    ("api-server", "--host", "127.0.0.1", "--workers", "1", "--port"),
)
#: Every message is received 15 s after Blip accepted it. The notify task reads each status
#: once, 1 s after its send (``first_read_after``), and the sensor once more when it starts:
#: both see ``dispatched``, so the wait must defer. The sensor starts about 2 s after notify
#: ends on a busy 2-CPU machine; 15 s leaves a wide margin and the trigger's backed-off reads
#: (5, 10, 20 s apart) still find the messages received within half a minute.
SLOW_DELIVERY = {"accepted": 0.0, "dispatched": 0.05, "received": 15.0, "consumed": 16.0}
MIGRATE_TIMEOUT = 180.0
START_TIMEOUT = 120.0
STOP_GRACE = 20.0
LOG_TAIL_LINES = 60
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


class StackError(AssertionError):
    """The Airflow stack did not do what a test waited for (a component died, a wait ran out)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError as error:
        return f"(unreadable: {error})"
    return "\n".join(text.splitlines()[-lines:])


@dataclasses.dataclass
class Component:
    """One ``airflow`` process of the stack and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def exited(self) -> int | None:
        return self.process.poll()


@dataclasses.dataclass
class AirflowStack:
    """A running Airflow, its home and a client of its REST API (``/api/v2``).

    :param home: the throwaway ``AIRFLOW_HOME``.
    :param env: the environment every component runs with.
    :param api_url: ``http://127.0.0.1:<port>`` of the api-server.
    """

    home: Path
    env: dict[str, str]
    api_url: str
    components: list[Component] = dataclasses.field(default_factory=list)
    session: requests.Session = dataclasses.field(default_factory=requests.Session)

    # -- the REST API ---------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Call ``/api/v2{path}``; return the JSON answer, or fail naming the status."""
        response = self.session.request(method, f"{self.api_url}/api/v2{path}", json=body, timeout=30)
        if response.status_code != expect:
            raise StackError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def try_api(self, path: str) -> Any | None:
        """GET ``/api/v2{path}``; None while the api-server is not up or answers an error."""
        try:
            response = self.session.get(f"{self.api_url}/api/v2{path}", timeout=10)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    # -- processes ------------------------------------------------------------------------
    def airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def start(self, port: int) -> None:
        for command in COMPONENTS:
            args = (*command, str(port)) if command[-1] == "--port" else command
            log = self.home / f"{command[0]}.log"
            with log.open("wb") as out:
                # Its own session (process group): stop() reaches the workers and task
                # processes it starts, and nothing else.
                process = subprocess.Popen(
                    self.airflow(*args),
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.components.append(Component(command[0], process, log))

    def check_alive(self) -> None:
        for component in self.components:
            code = component.exited()
            if code is not None:
                raise StackError(f"airflow {component.name} exited with {code}; see its log below")

    def stop(self) -> None:
        """SIGTERM every component's process group; SIGKILL what is left after the grace."""
        for component in self.components:
            _signal_group(component.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for component in self.components:
            try:
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Also the group: the executor's workers may outlive their parent.
            _signal_group(component.process, signal.SIGKILL)
            component.process.wait(timeout=10)
        self.session.close()

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
        """Call ``check`` until it returns something truthy; fail when a component dies or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StackError(f"gave up after {timeout:g} s waiting for {what}")
            time.sleep(every)

    def log_tails(self) -> list[tuple[str, str]]:
        """The last lines of each component's log and of the three newest task logs."""
        sections = [(f"airflow {c.name} (last {LOG_TAIL_LINES} lines)", tail(c.log)) for c in self.components]
        runs = self.home / "logs" / "dag_id=blip_whatsapp_notifications"
        task_logs = sorted(runs.rglob("*.log"), key=lambda p: p.stat().st_mtime)
        for path in task_logs[-3:]:
            sections.append((f"task log {path.relative_to(self.home)}", tail(path)))
        return sections


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # the group this process leads (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def stack_env(home: Path, port: int, emulator: BlipEmulator) -> dict[str, str]:
    """The environment of every component: nothing of the test session's own Airflow settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{port}"
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",  # the executor's worker processes; CI has 2 CPUs
        AIRFLOW__CORE__AUTH_MANAGER=SIMPLE_AUTH_MANAGER,
        # Every request is an admin's: no login, no token; the stack only listens on loopback.
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        # Task processes reach the api-server here. The token secrets are given, not left to
        # the airflow.cfg the first command writes, so every component surely shares them.
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{api_url}/execution/",
        AIRFLOW__API__BASE_URL=api_url,
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(64),
        # The scheduler and the triggerer each serve their logs on a fixed port by default
        # (8793, 8794): free ones let a second stack (another checkout's tests) run meanwhile.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        # Only the run the test triggers: unpausing a daily DAG with catchup=False would also
        # start the latest scheduled run, a second job messaging the same audience.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW_CONN_BLIP_DEFAULT=json.dumps(
            {"conn_type": "blip", "host": emulator.url, "password": TEST_KEY}
        ),
    )
    env[ROOT_ENV] = str(home / "blip-runs")
    return env


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # While the test body fails the components still run: their logs go with its report.
    stack = getattr(item, "funcargs", {}).get("airflow_stack")
    if report.when == "call" and report.failed and isinstance(stack, AirflowStack):
        report.sections.extend(stack.log_tails())
    return report


@pytest.fixture
def stack_emulator() -> Iterator[BlipEmulator]:
    config = EmulatorConfig(
        key=TEST_KEY, seed=3, failing_numbers=dict(FAILING), delivery_delays=dict(SLOW_DELIVERY)
    )
    with BlipEmulator(config) as emulator:
        yield emulator


@pytest.fixture
def airflow_stack(tmp_path: Path, stack_emulator: BlipEmulator) -> Iterator[AirflowStack]:
    """Migrate a throwaway home, start the four components and wait until they are healthy."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    stack = launch_stack(home, lambda port: stack_env(home, port, stack_emulator))
    try:
        yield stack
    finally:
        stack.stop()


def launch_stack(home: Path, env_for: Callable[[int], dict[str, str]]) -> AirflowStack:
    """Migrate ``home``, start the four components on a free port and wait until they are healthy.

    :param env_for: the components' environment for the api-server's port.
    """
    port = free_port()
    stack = AirflowStack(home, env_for(port), f"http://127.0.0.1:{port}")
    try:
        migrate = subprocess.run(
            stack.airflow("db", "migrate"),
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )
        if migrate.returncode != 0:
            raise StackError(
                f"airflow db migrate exited with {migrate.returncode}:\n{migrate.stdout[-3000:]}"
            )
        stack.start(port)
        stack.wait_until("every component to report healthy", lambda: _healthy(stack), START_TIMEOUT)
    except BaseException:
        stack.stop()
        for title, text in stack.log_tails():  # shown with the failed setup
            print(f"----- {title}\n{text}")
        raise
    return stack


def _healthy(stack: AirflowStack) -> bool:
    health = stack.try_api("/monitor/health")
    if not health:
        return False
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)
