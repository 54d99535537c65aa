"""Pytest fixtures for the Blip emulator.

Registered through the ``pytest11`` entry point of the ``blip-emulator`` distribution, so
its fixtures are there in any test once the distribution is installed::

    def test_send(blip_emulator):
        hook = BlipHook(...)  # point it at blip_emulator.url with password blip_emulator.key


    def test_rate_limited(blip_emulator_factory):
        emu = blip_emulator_factory(rate_limits={"messages": 5}, seed=1)


    def test_never_over_the_plan(blip_emulator_factory):
        emu = blip_emulator_factory(strict=True, lockout_seconds=0.5)  # EmulatorConfig.strict()
        ...  # run the client
        messages = emu.channel_stats()["messages"]
        assert messages.refused == 0 and messages.max_in_window <= 50
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from blip_emulator.config import EmulatorConfig
from blip_emulator.server import BlipEmulator

EmulatorFactory = Callable[..., BlipEmulator]


@pytest.fixture
def blip_emulator_factory() -> Iterator[EmulatorFactory]:
    """Start emulators with the given :class:`EmulatorConfig` knobs; stop them all after the test.

    ``strict=True`` starts from :meth:`EmulatorConfig.strict` (paid plan, sliding window, arrival
    jitter, lockout), and the other knobs override it.
    """
    started: list[BlipEmulator] = []

    def factory(*, strict: bool = False, **knobs: Any) -> BlipEmulator:
        config = EmulatorConfig.strict(**knobs) if strict else EmulatorConfig.from_knobs(**knobs)
        emulator = BlipEmulator(config).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def blip_emulator(blip_emulator_factory: EmulatorFactory) -> BlipEmulator:
    """Return a started emulator with default settings, stopped after the test."""
    return blip_emulator_factory()


@pytest.fixture
def blip_strict_emulator(blip_emulator_factory: EmulatorFactory) -> BlipEmulator:
    """Return a started emulator with :meth:`EmulatorConfig.strict` settings, stopped after the test."""
    return blip_emulator_factory(strict=True)
