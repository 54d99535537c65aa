"""Registration: the entry point, the provider info, and every module it names."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from airflow_provider_blip.get_provider_info import get_provider_info


def _listed_modules(info):
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            yield from entry["python-modules"]


def _listed_classes(info):
    for conn_type in info["connection-types"]:
        yield conn_type["hook-class-name"]
    yield from info.get("notifications", [])


def test_package_name_matches_distribution():
    info = get_provider_info()
    dist = importlib.metadata.distribution("airflow-provider-blip")
    assert info["package-name"] == dist.metadata["Name"]
    (entry_point,) = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert entry_point.load() is get_provider_info


def test_every_listed_module_and_class_imports():
    info = get_provider_info()
    modules = list(_listed_modules(info))
    assert "airflow_provider_blip.hooks.blip" in modules
    for module in modules:
        importlib.import_module(module)
    for path in _listed_classes(info):
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_every_shipped_module_is_listed():
    root = Path(__file__).parents[1] / "airflow_provider_blip"
    info = get_provider_info()
    listed = set(_listed_modules(info))
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for file in (root / kind).glob("*.py") if (root / kind).exists() else []:
            if not file.stem.startswith("_"):
                assert f"airflow_provider_blip.{kind}.{file.stem}" in listed, file


def test_connection_type_declares_fields_and_hook_attributes():
    (conn_type,) = get_provider_info()["connection-types"]
    from airflow_provider_blip.hooks.blip import BlipHook

    assert conn_type["connection-type"] == BlipHook.conn_type == "blip"
    assert conn_type["hook-name"] == BlipHook.hook_name == "Blip"
    assert BlipHook.default_conn_name == "blip_default"
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Bot key"
    assert conn_type["conn-fields"]["proxy"]["schema"]["format"] == "password"


def test_airflow_lists_the_provider_and_its_connection_type():
    cli = [sys.executable, "-m", "airflow"]
    providers = subprocess.run([*cli, "providers", "list"], capture_output=True, text=True, check=True)
    assert "airflow-provider-blip" in providers.stdout
    hooks = subprocess.run([*cli, "providers", "hooks"], capture_output=True, text=True, check=True)
    assert "blip" in hooks.stdout
    assert "BlipHook" in hooks.stdout
