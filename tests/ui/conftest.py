"""The Blip page in a real browser: the real stack of tests/stack, with real users, and Chromium.

``ui_run`` starts the same four Airflow components as ``tests/stack`` (its classes and
environment are reused), but with the simple auth manager's users and passwords instead of
"everyone is admin", and with provider plugins loaded (``lazy_discover_providers = False``,
which provider plugins need). It runs the notification job once for the whole module, so the
browser test and the refusal test share one stack. ``browser`` is headless Chromium through
chromedriver, both Debian packages, installed here when missing (we never download a
browser from a CDN).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests
from blip_emulator import BlipEmulator, EmulatorConfig

from tests.conftest import TEST_KEY
from tests.dags.conftest import FAILING, FAST_DELIVERY
from tests.stack.conftest import AirflowStack, StackError, launch_stack, stack_env
from tests.stack.test_real_stack import DAG_ID, SAMPLE_AUDIENCE, follow_run, wait_for_dag

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from pathlib import Path

#: The page's reader may only read (the viewer role); the stack is driven by an admin.
USER, PASSWORD = "campaign-owner", "blip-page-test-password"
ADMIN, ADMIN_PASSWORD = "airflow-ops", "blip-ops-test-password"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@dataclasses.dataclass
class UiRun:
    """The stack, the run the job made, and what its report returned."""

    stack: AirflowStack
    run_id: str
    counts: dict[str, int]
    token: str


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when missing (the test set-up, as .ci/run does)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if os.geteuid() != 0:
        pytest.fail("Chromium is missing: run `apt-get install -y chromium chromium-driver` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
        check=True,
        env=env,
        capture_output=True,
    )


def ui_env(home: Path, port: int, emulator: BlipEmulator) -> dict[str, str]:
    env = stack_env(home, port, emulator)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD, ADMIN: ADMIN_PASSWORD}), "utf-8")
    env.update(
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:viewer,{ADMIN}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        # Airflow loads a provider's plugins only when it discovers providers eagerly.
        AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS="False",
    )
    return env


def login(stack: AirflowStack, user: str, password: str) -> str:
    """Return a JWT for ``user``, as the REST API hands it out."""
    response = requests.post(
        f"{stack.api_url}/auth/token", json={"username": user, "password": password}, timeout=30
    )
    if response.status_code not in (200, 201):
        raise StackError(f"login answered {response.status_code}: {response.text[:300]}")
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def ui_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiRun]:
    """Run the notification job once on a stack with real users; keep the stack for the module."""
    ensure_chromium()
    config = EmulatorConfig(
        key=TEST_KEY, seed=3, failing_numbers=dict(FAILING), delivery_delays=dict(FAST_DELIVERY)
    )
    home = tmp_path_factory.mktemp("ui") / "airflow-home"
    home.mkdir()
    with BlipEmulator(config) as emulator:
        stack = launch_stack(home, lambda port: ui_env(home, port, emulator))
        try:
            stack.session.headers["Authorization"] = f"Bearer {login(stack, ADMIN, ADMIN_PASSWORD)}"
            wait_for_dag(stack)
            stack.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
            body = {"logical_date": datetime.now(UTC).isoformat(), "conf": {"audience": SAMPLE_AUDIENCE}}
            run_id = stack.api("POST", f"/dags/{DAG_ID}/dagRuns", body)["dag_run_id"]
            observed = follow_run(stack, run_id)
            if observed.run_state != "success":
                raise StackError(f"the run ended {observed.run_state}: {observed.states}")
            path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value"
            counts = dict(stack.api("GET", path)["value"])
            yield UiRun(stack, run_id, counts, login(stack, USER, PASSWORD))
        finally:
            stack.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    run = getattr(item, "funcargs", {}).get("ui_run")
    if report.when == "call" and report.failed and isinstance(run, UiRun):
        report.sections.extend(run.stack.log_tails())
    return report


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium, driven through chromedriver (both from Debian)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
