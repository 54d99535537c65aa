"""Pytest fixtures for the Blip emulator.

Opt in from a top-level ``conftest.py`` (or a test module)::

    pytest_plugins = ["airflow_provider_blip.emulator.pytest_plugin"]


    def test_send(blip_emulator):
        hook = BlipHook(...)  # point it at blip_emulator.url with password blip_emulator.key


    def test_rate_limited(blip_emulator_factory):
        emu = blip_emulator_factory(rate_limits={"messages": 5}, seed=1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_blip.emulator.config import EmulatorConfig
from airflow_provider_blip.emulator.server import BlipEmulator

EmulatorFactory = Callable[..., BlipEmulator]


@pytest.fixture
def blip_emulator_factory() -> Iterator[EmulatorFactory]:
    """Start emulators with the given :class:`EmulatorConfig` knobs; stop them all after the test."""
    started: list[BlipEmulator] = []

    def factory(**knobs: Any) -> BlipEmulator:
        emulator = BlipEmulator(EmulatorConfig.from_knobs(**knobs)).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def blip_emulator(blip_emulator_factory: EmulatorFactory) -> BlipEmulator:
    """Return a started emulator with default settings, stopped after the test."""
    return blip_emulator_factory()
