"""What each distribution ships: the provider's wheel carries no test server."""

from __future__ import annotations

import configparser
import os
import zipfile
from pathlib import Path

import pytest

buildapi = pytest.importorskip("flit_core.buildapi")

REPO = Path(__file__).resolve().parents[1]


def build_wheel(source: Path, out: Path) -> zipfile.ZipFile:
    cwd = Path.cwd()
    os.chdir(source)  # flit builds the project in the current directory
    try:
        name = buildapi.build_wheel(str(out))
    finally:
        os.chdir(cwd)
    return zipfile.ZipFile(out / name)


def entry_points(wheel: zipfile.ZipFile) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    parser.read_string(wheel.read(name).decode())
    return parser


def test_provider_wheel_ships_no_emulator(tmp_path: Path) -> None:
    wheel = build_wheel(REPO, tmp_path)
    names = wheel.namelist()
    assert any(n.startswith("airflow_provider_blip/hooks/") for n in names)
    assert not [n for n in names if "emulator" in n.split("/")[0] or "/emulator/" in n]
    points = entry_points(wheel)
    assert "apache_airflow_provider" in points
    assert "console_scripts" not in points  # the blip-emulator script belongs to the emulator
    assert "pytest11" not in points


def test_emulator_wheel_registers_its_plugin_and_script(tmp_path: Path) -> None:
    wheel = build_wheel(REPO / "emulator", tmp_path)
    names = wheel.namelist()
    assert "blip_emulator/server.py" in names
    assert not [n for n in names if n.startswith("airflow_provider_blip")]
    points = entry_points(wheel)
    assert points["pytest11"]["blip_emulator"] == "blip_emulator.pytest_plugin"
    assert points["console_scripts"]["blip-emulator"] == "blip_emulator.__main__:main"
