"""Refresh the docs' pictures of the Blip page: docs/img/blip-page.png and docs/img/blip-tab.png.

Runs the browser test (tests/ui: the demo job on a real Airflow stack, then headless
Chromium), which copies its screenshots into ``$BLIP_UI_SCREENSHOTS``. Run it with the
project's Python (``.venv/bin/python scripts/ui_screenshots.py``); about two minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    target = ROOT / "docs" / "img"
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "BLIP_UI_SCREENSHOTS": str(target)}
    test = "tests/ui/test_blip_page.py::test_the_blip_page_shows_the_runs_funnel_as_the_report_counted"
    return subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT, env=env
    )


if __name__ == "__main__":
    sys.exit(main())
