"""A Blip (Take Blip) HTTP API emulator for tests, demos and benchmarks.

It is a real HTTP/1.1 server on loopback that speaks the documented Blip HTTP API
(``/commands``, ``/messages``, ``/notifications``; see ``docs/emulator.md`` and the sourced
reference it follows). It keeps the state a bot would see (WhatsApp directory, contacts,
contexts, distribution lists, message notifications), records every envelope it receives, and
can inject latency, arrival jitter, rate limits (sliding or fixed window, token bucket, with an
optional lockout) and faults, deterministically from a seed. ``EmulatorConfig.strict()`` is the
strictest reading of Blip's docs, for checking that a client never goes over the plan.

.. code-block:: python

    from blip_emulator import BlipEmulator, EmulatorConfig

    with BlipEmulator(EmulatorConfig(key="emulator-key", seed=0)) as emu:
        ...  # point the Blip connection at emu.url with password emu.key
        assert emu.stats()["requests"]["messages"] == 1

Run it from a shell with ``python -m blip_emulator`` (or ``blip-emulator``), or
in pytest through its fixtures (``blip_emulator``, ``blip_emulator_factory``,
``blip_strict_emulator``), which the ``blip-emulator`` distribution registers with pytest.
"""

from __future__ import annotations

from blip_emulator.config import (
    CHANNELS,
    DEFAULT_DELIVERY_DELAYS,
    STRICT_KNOBS,
    EmulatorConfig,
    RateModel,
)
from blip_emulator.directory import whatsapp_account
from blip_emulator.records import OUTCOMES, ChannelStats, Record
from blip_emulator.server import BlipEmulator

__version__ = "0.1.0"

__all__ = [
    "CHANNELS",
    "DEFAULT_DELIVERY_DELAYS",
    "OUTCOMES",
    "STRICT_KNOBS",
    "BlipEmulator",
    "ChannelStats",
    "EmulatorConfig",
    "RateModel",
    "Record",
    "whatsapp_account",
]
