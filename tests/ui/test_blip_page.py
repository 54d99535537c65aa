"""The Blip page of the Airflow UI, opened in headless Chromium after the demo job ran for real.

The numbers the browser renders are checked against what the run's ``report`` task returned
(its counts per final status, from the delivery waits), not against the page's own reader.
The screenshots (the page, and the page as a tab of the DAG run in Airflow's UI) are kept in
the test's tmp dir, and copied into ``$BLIP_UI_SCREENSHOTS`` when set
(``scripts/ui_screenshots.py`` sets it to ``docs/img``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
import requests

from tests.conftest import TEST_KEY
from tests.stack.test_real_stack import DAG_ID, SAMPLE_AUDIENCE
from tests.ui.conftest import PASSWORD, USER

if TYPE_CHECKING:
    from tests.ui.conftest import UiRun

pytestmark = pytest.mark.slow

LOAD_TIMEOUT = 30.0
NOT_SENT = ("duplicate", "invalid_number", "invalid_values", "not_on_whatsapp", "send_failed", "not_sent")


def full_numbers() -> list[str]:
    """Every phone number of the sample audience, digits only (a masked form never has them all)."""
    lines = Path(SAMPLE_AUDIENCE).read_text("utf-8").splitlines()[1:]
    digits = ("".join(ch for ch in line.split(",")[0] if ch.isdigit()) for line in lines)
    return [number for number in digits if len(number) >= 8]


def served_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in " \n<>")


def run_path(run: UiRun, prefix: str = "/blip/runs") -> str:
    return f"{prefix}/{quote(DAG_ID, safe='')}/{quote(run.run_id, safe='')}"


def sign_in(browser, base: str) -> None:
    """Log in through Airflow's own login form, as a person does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/auth/login")
    wait = WebDriverWait(browser, LOAD_TIMEOUT)
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda driver: driver.get_cookie("_token") is not None)


def test_the_blip_page_shows_the_runs_funnel_as_the_report_counted(ui_run: UiRun, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base = ui_run.stack.api_url
    sign_in(browser, base)
    browser.get(base + run_path(ui_run))
    WebDriverWait(browser, LOAD_TIMEOUT).until(ec.presence_of_element_located((By.ID, "count-total")))

    def shown(key: str) -> int:
        return int(browser.find_element(By.ID, f"count-{key}").text)

    counts = ui_run.counts
    assert shown("total") == sum(counts.values()) == 14
    assert shown("read") == counts.get("consumed", 0)
    assert shown("received") == counts.get("consumed", 0) + counts.get("received", 0)
    assert shown("failed") == counts.get("failed", 0) == 1
    assert shown("not_sent") == sum(counts.get(status, 0) for status in NOT_SENT) == 3
    assert shown("sent") == shown("total") - shown("not_sent") - shown("queued")
    assert shown("queued") == 0
    # The failed-recipients table: the delivery failure first, its number masked.
    first = browser.find_elements(By.CSS_SELECTOR, "#failed tbody tr")[0].text
    assert "failed" in first
    assert "Destination not found" in first
    assert "+5511*****0004" in first
    # The page links back to the DAG run in the Airflow UI.
    link = browser.find_element(By.LINK_TEXT, "the DAG run").get_attribute("href")
    assert link == f"{base}/dags/{DAG_ID}/runs/{quote(ui_run.run_id, safe='')}"

    page = served_digits(browser.page_source)
    assert not [number for number in full_numbers() if number in page]
    keep(browser, tmp_path / "blip-page.png")

    # The same page as the DAG run's "Blip delivery" tab in Airflow's own UI (an iframe).
    browser.get(f"{base}/dags/{DAG_ID}/runs/{quote(ui_run.run_id, safe='')}/plugin/blip-run")
    frame = WebDriverWait(browser, LOAD_TIMEOUT).until(
        ec.presence_of_element_located((By.TAG_NAME, "iframe"))
    )
    browser.switch_to.frame(frame)
    total = WebDriverWait(browser, LOAD_TIMEOUT).until(ec.presence_of_element_located((By.ID, "count-total")))
    assert int(total.text) == 14
    browser.switch_to.default_content()
    keep(browser, tmp_path / "blip-tab.png")


def keep(browser, shot: Path) -> None:
    """Save a screenshot as a test artifact; copy it into ``$BLIP_UI_SCREENSHOTS`` when set."""
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000  # a blank page is a few kB
    print(f"screenshot: {shot}")
    if os.environ.get("BLIP_UI_SCREENSHOTS"):
        shutil.copyfile(shot, Path(os.environ["BLIP_UI_SCREENSHOTS"]) / shot.name)


def test_the_tasks_link_to_the_page_and_the_json_serves_no_number(ui_run: UiRun) -> None:
    stack = ui_run.stack
    for task_id in ("notify", "wait_for_delivery"):
        links = stack.api(
            "GET", f"/dags/{DAG_ID}/dagRuns/{ui_run.run_id}/taskInstances/{task_id}/links?map_index=0"
        )
        assert links["extra_links"]["Blip delivery"].endswith(run_path(ui_run)), links

    plugins = stack.api("GET", "/plugins")["plugins"]
    views = [
        view["name"] for plugin in plugins if plugin["name"] == "blip" for view in plugin["external_views"]
    ]
    assert views == ["Blip", "Blip delivery"]

    headers = {"Authorization": f"Bearer {ui_run.token}"}
    answer = requests.get(stack.api_url + run_path(ui_run, "/blip/api/runs"), headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["funnel"]["read"] == ui_run.counts.get("consumed", 0)
    assert [row["status"] for row in view["failed"]][0] == "failed"
    assert not [number for number in full_numbers() if number in served_digits(answer.text)]
    assert TEST_KEY not in answer.text

    # The index lists the job, linked to its page.
    index = requests.get(f"{stack.api_url}/blip/", headers=headers, timeout=30)
    assert index.status_code == 200
    assert f'href="jobs/{DAG_ID}/{view["job"]}"' in index.text
    job = requests.get(f"{stack.api_url}/blip/api/jobs/{DAG_ID}/{view['job']}", headers=headers, timeout=30)
    assert job.json()["funnel"] == view["funnel"]


@pytest.mark.parametrize("path", ["/blip/", "/blip/runs", "/blip/api/runs", "/blip/api/jobs"])
def test_a_request_without_a_session_is_refused(ui_run: UiRun, path: str) -> None:
    base = ui_run.stack.api_url
    url = base + (path if path == "/blip/" else run_path(ui_run, path))
    if path == "/blip/api/jobs":
        url = f"{base}{path}/{DAG_ID}"
    assert requests.get(url, timeout=30).status_code == 401
    forged = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    assert forged.status_code in (401, 403)
    cookie = requests.get(url, cookies={"_token": "not-a-token"}, timeout=30)
    assert cookie.status_code in (401, 403)
