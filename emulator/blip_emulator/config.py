"""Emulator settings: one frozen dataclass holding every knob, with validation."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import TYPE_CHECKING, Any

from blip_emulator import templates as registry
from blip_emulator.templates import SEED_TEMPLATES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Set as AbstractSet

#: The three Blip HTTP endpoints, named after their path (docs/blip-api-facts.md §1.1).
CHANNELS: tuple[str, ...] = ("commands", "messages", "notifications")

#: Seconds after receipt at which each delivery event becomes visible
#: (docs/blip-api-facts.md §2 "Notification").
DEFAULT_DELIVERY_DELAYS: dict[str, float] = {
    "accepted": 0.0,
    "dispatched": 0.05,
    "received": 0.2,
    "consumed": 0.5,
}

#: Per-second limits of the plans in docs/blip-api-facts.md §10 (DOCS concepts2/throughput.md).
PLAN_RATE_LIMITS: dict[str, dict[str, float]] = {
    "free": {"messages": 3, "notifications": 6, "commands": 48},
    "paid": {"messages": 50, "notifications": 100, "commands": 200},
}

_FAULT_RATES = ("error_rate", "drop_rate", "drop_after_rate", "slow_rate")


class RateModel(enum.StrEnum):
    """How a channel's rate limit counts requests.

    ``SLIDING`` admits a request only if fewer than ``floor(rate)`` were admitted in the
    second before its arrival (an exact log of arrival times, the strictest reading of "per
    second"); ``FIXED`` counts per wall-clock second; ``TOKEN_BUCKET`` refills continuously
    and holds at most one second of requests.
    """

    SLIDING = "sliding"
    FIXED = "fixed"
    TOKEN_BUCKET = "token_bucket"


#: Knobs of :meth:`EmulatorConfig.strict`: the paid plan on a sliding window, with 20 ms of
#: arrival jitter and the two-minute lockout that notes quoting Blip's docs describe.
STRICT_KNOBS: dict[str, Any] = {
    "rate_limits": dict(PLAN_RATE_LIMITS["paid"]),
    "rate_model": RateModel.SLIDING,
    "arrival_jitter": 0.02,
    "lockout_seconds": 120.0,
    "enforce_templates": True,
}


@dataclasses.dataclass(frozen=True)
class EmulatorConfig:
    """Every behaviour knob of the Blip emulator; instances are immutable snapshots.

    :param key: Accepted bot key, the value after ``Authorization: Key``.
    :param bot_id: Bot name; the bot identity is ``<bot_id>@msging.net``.
    :param seed: Seed of every random choice (faults, both jitters, read/received split).
    :param latency: Seconds added before answering every Blip request (non-blocking timer).
    :param latency_jitter: Extra uniform random delay in ``[0, latency_jitter]`` seconds.
    :param rate_limits: Requests per second per channel, counted as ``rate_model`` says;
        ``None`` disables limits. Refused requests get HTTP 429 and are not processed.
    :param rate_model: ``sliding`` (default), ``fixed`` or ``token_bucket``; see :class:`RateModel`.
    :param arrival_jitter: Each Blip request is held a uniform random ``[0, arrival_jitter]``
        seconds before it arrives (is counted against the limit and processed), as network
        jitter would bunch requests that left evenly.
    :param lockout_seconds: After any request over a channel's limit, every request on that
        channel is answered 429 for this long; 0 turns the lockout off.
    :param error_rate: Fraction answered 500/502/503/504 without processing.
    :param drop_rate: Fraction where the connection is closed without an answer and without processing.
    :param drop_after_rate: Fraction processed and then closed without an answer (the ambiguous case).
    :param slow_rate: Fraction processed and answered only after ``slow_seconds``.
    :param slow_seconds: Extra delay of slow answers.
    :param fault_channels: Channels the four fault rates apply to.
    :param ninth_digit_ddd_min: Brazilian area codes at or above this have legacy WhatsApp accounts
        without the ninth digit; ``None`` disables the rule.
    :param failing_numbers: E.164 number to ``(reason code, description)``: lookup works, delivery fails.
    :param unregistered_numbers: E.164 numbers whose lookup fails with code 67.
    :param delivery_delays: Seconds after receipt of ``accepted``, ``dispatched``, ``received``
        and ``consumed``.
    :param read_ratio: Fraction of delivered messages that reach ``consumed`` (seeded per message id).
    :param record_path: Append every record to this file as a JSON line.
    :param max_body_bytes: Larger request bodies are refused with HTTP 413.
    :param max_records: Records kept in memory (oldest dropped first); stats keep counting.
    :param max_messages: Sent messages kept for ``get /notifications`` (oldest forgotten first).
    :param campaign_dispatch_delay: Seconds an Active Campaign stays ``Processing`` before Blip
        dispatches it (lookup, send, flow redirect per recipient) and it becomes ``Sent``.
    :param campaign_max_audience: Most recipients one ``set /campaign/full`` may carry; Blip
        documents no limit, so this is a guess (docs/emulator.md).
    :param templates: The approved-template registry served by ``get /message-templates``: a
        sequence of templates in Meta's layout, or the path of a JSON file holding them
        (default: :data:`~blip_emulator.templates.SEED_TEMPLATES`, the example DAGs' templates).
    :param enforce_templates: Fail (accepted, then a ``failed`` notification) every template
        message that does not match an approved template of ``templates``; on in ``strict()``.
    """

    key: str = "emulator-key"
    bot_id: str = "emulatorbot"
    seed: int = 0
    latency: float = 0.0
    latency_jitter: float = 0.0
    rate_limits: dict[str, float] | None = None
    rate_model: RateModel = RateModel.SLIDING
    arrival_jitter: float = 0.0
    lockout_seconds: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 30.0
    fault_channels: AbstractSet[str] = frozenset(CHANNELS)
    ninth_digit_ddd_min: int | None = 31
    failing_numbers: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    unregistered_numbers: AbstractSet[str] = frozenset()
    delivery_delays: dict[str, float] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_DELIVERY_DELAYS)
    )
    read_ratio: float = 1.0
    record_path: str | None = None
    max_body_bytes: int = 1_048_576
    max_records: int = 100_000
    max_messages: int = 100_000
    campaign_dispatch_delay: float = 1.0
    campaign_max_audience: int = 1000
    templates: tuple[dict[str, Any], ...] = SEED_TEMPLATES
    enforce_templates: bool = False

    def __post_init__(self) -> None:
        # Normalise containers so callers may pass lists, sets or partial dicts.
        set_ = object.__setattr__
        set_(self, "fault_channels", frozenset(self.fault_channels))
        set_(self, "unregistered_numbers", frozenset(self.unregistered_numbers))
        set_(self, "failing_numbers", _normalise_failing(self.failing_numbers))
        set_(self, "delivery_delays", {**DEFAULT_DELIVERY_DELAYS, **dict(self.delivery_delays)})
        set_(self, "rate_model", _rate_model(self.rate_model))
        set_(self, "templates", _templates(self.templates))
        if self.rate_limits is not None:
            set_(self, "rate_limits", {str(k): float(v) for k, v in dict(self.rate_limits).items()})
        self._validate()

    def _validate(self) -> None:
        if not self.key:
            raise ValueError("key must not be empty")
        if not self.bot_id or "@" in self.bot_id:
            raise ValueError("bot_id must be a bare name such as 'mybot'")
        for name in (
            "latency",
            "latency_jitter",
            "arrival_jitter",
            "lockout_seconds",
            "slow_seconds",
            "campaign_dispatch_delay",
        ):
            _check_non_negative(name, getattr(self, name))
        for name in (*_FAULT_RATES, "read_ratio"):
            _check_fraction(name, getattr(self, name))
        if sum(getattr(self, name) for name in _FAULT_RATES) > 1.0 + 1e-9:
            raise ValueError("error_rate + drop_rate + drop_after_rate + slow_rate must not exceed 1")
        _check_channels("fault_channels", self.fault_channels)
        if self.rate_limits is not None:
            _check_channels("rate_limits", self.rate_limits)
            for channel, rate in self.rate_limits.items():
                if not rate > 0 or math.isinf(rate):
                    raise ValueError(f"rate_limits[{channel!r}] must be a positive number, got {rate}")
        unknown = set(self.delivery_delays) - set(DEFAULT_DELIVERY_DELAYS)
        if unknown:
            raise ValueError(f"delivery_delays has unknown events {sorted(unknown)}")
        for event, delay in self.delivery_delays.items():
            _check_non_negative(f"delivery_delays[{event!r}]", delay)
        if self.ninth_digit_ddd_min is not None and not 11 <= self.ninth_digit_ddd_min <= 100:
            raise ValueError("ninth_digit_ddd_min must be an area code between 11 and 99 (100 = never)")
        if min(self.max_body_bytes, self.max_records, self.max_messages, self.campaign_max_audience) < 1:
            raise ValueError(
                "max_body_bytes, max_records, max_messages and campaign_max_audience must be positive"
            )

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """Return the names of every knob, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def strict(cls, **overrides: Any) -> EmulatorConfig:
        """Return the strictest reading of Blip's docs: :data:`STRICT_KNOBS`, then ``overrides``.

        :param overrides: Any other knob, or a strict one changed (e.g. ``lockout_seconds=0.5``).
        """
        check_knob_names(overrides)
        return cls(**{**STRICT_KNOBS, **overrides})

    @classmethod
    def from_knobs(cls, **knobs: Any) -> EmulatorConfig:
        """Build a config, refusing unknown knob names with a clear ``ValueError``."""
        check_knob_names(knobs)
        return cls(**knobs)

    def replace(self, **knobs: Any) -> EmulatorConfig:
        """Return a copy with some knobs changed, refusing unknown knob names."""
        check_knob_names(knobs)
        return dataclasses.replace(self, **knobs)

    def to_dict(self) -> dict[str, Any]:
        """Return the knobs as JSON-friendly values."""
        data = dataclasses.asdict(self)
        data["fault_channels"] = sorted(self.fault_channels)
        data["unregistered_numbers"] = sorted(self.unregistered_numbers)
        data["failing_numbers"] = {k: list(v) for k, v in self.failing_numbers.items()}
        data["rate_model"] = self.rate_model.value
        data["templates"] = [dict(t) for t in self.templates]
        return data


def check_knob_names(knobs: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first knob that ``EmulatorConfig`` does not have."""
    known = EmulatorConfig.knob_names()
    for name in knobs:
        if name not in known:
            raise ValueError(f"unknown emulator knob {name!r}; known knobs: {', '.join(known)}")


def parse_rate_limits(text: str) -> dict[str, float] | None:
    """Parse the CLI form ``messages=50,commands=200`` (or ``free``, ``paid``, ``off``).

    :param text: The option value.
    """
    text = text.strip().lower()
    if text in ("", "off", "none"):
        return None
    if text in PLAN_RATE_LIMITS:
        return dict(PLAN_RATE_LIMITS[text])
    limits: dict[str, float] = {}
    for part in text.split(","):
        channel, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"rate limit {part!r} is not CHANNEL=RATE")
        limits[channel.strip()] = float(value)
    return limits


def _templates(value: Any) -> tuple[dict[str, Any], ...]:
    # A path, or any sequence of templates, is accepted and normalised to a tuple.
    if isinstance(value, str):
        return registry.load_file(value)
    return registry.normalise(value)


def _rate_model(value: str) -> RateModel:
    try:
        return RateModel(value)
    except ValueError:
        known = ", ".join(model.value for model in RateModel)
        raise ValueError(f"rate_model must be one of {known}, got {value!r}") from None


def _normalise_failing(failing: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    result: dict[str, tuple[int, str]] = {}
    for number, reason in dict(failing).items():
        code, description = reason
        result[str(number)] = (int(code), str(description))
    return result


def _check_non_negative(name: str, value: float) -> None:
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _check_channels(name: str, channels: Iterable[str]) -> None:
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"{name} has unknown channels {sorted(unknown)}; channels are {', '.join(CHANNELS)}")
