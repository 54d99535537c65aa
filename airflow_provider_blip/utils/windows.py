"""Send windows: whether it is a decent hour to message a number, in its own time zones (no I/O).

``send_window="08:00-20:00"`` is read in the recipient's local time, from the number's
region (phonenumbers' time-zone data, imported on first use: it is slow to load). Brazil
spans four zones, and some numbers map to several: such a number is open only when the
window is open in **every** one of its zones (the most restrictive reading), so nobody is
woken up. A number phonenumbers cannot place falls back to ``default_zone``
(``America/Sao_Paulo``, UTC-03:00, the provider's main market). The start is inclusive, the
end exclusive; a window across midnight (``20:00-08:00``) is refused rather than guessed.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from airflow_provider_blip.exceptions import BlipConfigError

#: The zone of a number phonenumbers cannot place (unknown region or ``Etc/Unknown``).
DEFAULT_ZONE = "America/Sao_Paulo"
_UNKNOWN = "Etc/Unknown"
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# Candidate openings are looked for this many days ahead: two are enough for any window
# that has a common hour in a number's zones; more means it never has one.
_HORIZON_DAYS = 3


@dataclasses.dataclass(frozen=True)
class SendWindow:
    """A daily window in the recipient's local time.

    :param start: first minute open (inclusive).
    :param end: first minute closed (exclusive), after ``start``.
    :param default_zone: the zone of a number without a known one.
    """

    start: time
    end: time
    default_zone: str = DEFAULT_ZONE

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def is_open(self, phone: str, now: datetime) -> bool:
        """Tell whether ``now`` (timezone-aware) is inside the window in every zone of ``phone``."""
        return all(self._open_in(zone, now) for zone in self.zones(phone))

    def next_open(self, phone: str, now: datetime) -> datetime:
        """Return the first moment from ``now`` when the window is open in every zone of ``phone``.

        ``now`` itself when open. The result is aware, in UTC.

        :raises BlipConfigError: the zones never share an open minute (a window too narrow
            for a number spread over zones hours apart).
        """
        now = _aware(now)
        if self.is_open(phone, now):
            return now.astimezone(UTC)
        zones = self.zones(phone)
        # Where windows of several zones overlap, the overlap starts at one of their starts.
        starts = sorted(
            start
            for zone in zones
            for start in self._starts(zone, now)
            if start > now and all(self._open_in(z, start) for z in zones)
        )
        if not starts:
            raise BlipConfigError(
                f"send_window {self}: never open at once in the number's zones {', '.join(zones)}; "
                "widen the window"
            )
        return starts[0].astimezone(UTC)

    def zones(self, phone: str) -> tuple[str, ...]:
        """Return the time zones of an E.164 number; ``default_zone`` when none is known."""
        return _zones(phone) or (self.default_zone,)

    def _open_in(self, zone: str, moment: datetime) -> bool:
        local = _aware(moment).astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
        return self.start <= local < self.end

    def _starts(self, zone: str, now: datetime) -> list[datetime]:
        today = _aware(now).astimezone(ZoneInfo(zone)).date()
        days = (today + timedelta(days=n) for n in range(_HORIZON_DAYS))
        return [datetime.combine(day, self.start, tzinfo=ZoneInfo(zone)) for day in days]


def parse_window(value: str | SendWindow | None, default_zone: str = DEFAULT_ZONE) -> SendWindow | None:
    """Read ``send_window``: ``"HH:MM-HH:MM"``; ``None`` or ``""`` is off.

    :param value: the argument as given (after templating).
    :param default_zone: the zone of numbers phonenumbers cannot place.
    :raises BlipConfigError: not of that form, an impossible time, or a window across midnight.
    """
    if value is None or isinstance(value, SendWindow):
        return value
    if not isinstance(value, str):
        raise BlipConfigError(f"send_window must be 'HH:MM-HH:MM', got {type(value).__name__}")
    if value.strip().lower() in ("", "none"):
        return None
    match = _WINDOW.match(value)
    if match is None:
        raise BlipConfigError(f"send_window must be 'HH:MM-HH:MM' (e.g. 08:00-20:00), got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise BlipConfigError(f"send_window {value!r}: hours go 00-23 and minutes 00-59")
    start, end = time(h1, m1), time(h2, m2)
    if start >= end:
        raise BlipConfigError(
            f"send_window {value!r}: the start must come before the end on the same day "
            "(a window across midnight is not supported)"
        )
    try:
        ZoneInfo(default_zone)
    except (ValueError, KeyError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise BlipConfigError(f"unknown time zone {default_zone!r}") from error
    return SendWindow(start, end, default_zone)


def _zones(phone: str) -> tuple[str, ...]:
    import phonenumbers
    from phonenumbers import timezone

    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in timezone.time_zones_for_number(number) if z != _UNKNOWN)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise BlipConfigError(f"send windows need a timezone-aware time, got {moment!r}")
    return moment
