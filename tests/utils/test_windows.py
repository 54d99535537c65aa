"""Send windows in the recipient's zones, with fixed times (no clock is read)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.windows import DEFAULT_ZONE, SendWindow, parse_window

SP = ZoneInfo("America/Sao_Paulo")
SAO_PAULO = "+5511987654321"  # America/Sao_Paulo, UTC-03:00
MANAUS = "+5592987654321"  # America/Manaus, UTC-04:00
RIO_BRANCO = "+5568999998888"  # America/Rio_Branco, UTC-05:00
RUSSIA = "+79001234567"  # a mobile range phonenumbers places in 16 zones, Bucharest to Anadyr
TOLL_FREE = "+18005550100"  # North America toll-free: Guam to St John's
UNPLACED = "+5510987654321"  # area code 10 does not exist: Etc/Unknown
WINDOW = SendWindow(time(8), time(20))


def sp(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SP)


class TestParse:
    def test_reads_hours_and_minutes(self):
        assert parse_window("08:00-20:30") == SendWindow(time(8), time(20, 30))
        assert parse_window(" 8:15 - 9:00 ") == SendWindow(time(8, 15), time(9))

    @pytest.mark.parametrize("value", [None, "", "None", " none "])
    def test_none_or_empty_is_off(self, value):
        assert parse_window(value) is None

    @pytest.mark.parametrize("value", ["8-20", "08:00", "25:00-26:00", "08:61-09:00", "08:00-20:00-21:00", 8])
    def test_refuses_what_is_not_a_window(self, value):
        with pytest.raises(BlipConfigError, match="send_window"):
            parse_window(value)

    @pytest.mark.parametrize("value", ["20:00-08:00", "08:00-08:00"])
    def test_refuses_a_window_across_midnight_or_empty(self, value):
        with pytest.raises(BlipConfigError, match="across midnight"):
            parse_window(value)

    def test_refuses_an_unknown_default_zone(self):
        with pytest.raises(BlipConfigError, match="Mars/Olympus"):
            parse_window("08:00-20:00", default_zone="Mars/Olympus")


class TestIsOpen:
    def test_start_is_open_end_is_closed(self):
        assert WINDOW.is_open(SAO_PAULO, sp(2, 8))
        assert WINDOW.is_open(SAO_PAULO, sp(2, 19, 59))
        assert not WINDOW.is_open(SAO_PAULO, sp(2, 20))
        assert not WINDOW.is_open(SAO_PAULO, sp(2, 7, 59))

    def test_in_the_number_s_own_zone(self):
        # 08:30 in São Paulo is 07:30 in Manaus and 06:30 in Rio Branco.
        assert WINDOW.is_open(SAO_PAULO, sp(2, 8, 30))
        assert not WINDOW.is_open(MANAUS, sp(2, 8, 30))
        assert not WINDOW.is_open(RIO_BRANCO, sp(2, 8, 30))
        assert WINDOW.is_open(RIO_BRANCO, sp(2, 10))

    def test_any_aware_time_works(self):
        assert WINDOW.is_open(SAO_PAULO, datetime(2026, 12, 2, 11, 0, tzinfo=UTC))  # 08:00 in São Paulo
        assert not WINDOW.is_open(SAO_PAULO, datetime(2026, 12, 2, 10, 59, tzinfo=UTC))

    def test_a_naive_time_is_refused(self):
        with pytest.raises(BlipConfigError, match="timezone-aware"):
            WINDOW.is_open(SAO_PAULO, datetime(2026, 12, 2, 12))

    def test_several_zones_open_only_when_open_in_all(self):
        assert len(WINDOW.zones(RUSSIA)) > 1
        # 12:00 Moscow (UTC+3) is 21:00 in Anadyr (UTC+12): closed there, so closed.
        noon_moscow = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
        assert not WINDOW.is_open(RUSSIA, noon_moscow)
        # 08:00 Bucharest (UTC+2) is 18:00 in Anadyr: open everywhere.
        assert WINDOW.is_open(RUSSIA, datetime(2026, 12, 2, 6, 0, tzinfo=UTC))

    def test_an_unplaced_number_uses_the_default_zone(self):
        assert WINDOW.zones(UNPLACED) == (DEFAULT_ZONE,)
        assert WINDOW.zones("not a number") == (DEFAULT_ZONE,)
        lisbon = SendWindow(time(8), time(20), "Europe/Lisbon")
        assert lisbon.zones(UNPLACED) == ("Europe/Lisbon",)
        assert not lisbon.is_open(UNPLACED, sp(2, 19))  # 22:00 in Lisbon


class TestNextOpen:
    def test_open_now_is_now(self):
        assert WINDOW.next_open(SAO_PAULO, sp(2, 9)) == sp(2, 9)

    def test_after_the_end_is_the_next_morning(self):
        opens = WINDOW.next_open(SAO_PAULO, sp(2, 22))
        assert opens == sp(3, 8)
        assert opens.tzinfo is UTC

    def test_before_the_start_is_the_same_morning(self):
        assert WINDOW.next_open(SAO_PAULO, sp(2, 3)) == sp(2, 8)

    def test_in_the_number_s_zone(self):
        assert WINDOW.next_open(MANAUS, sp(2, 22)) == sp(3, 9)  # 08:00 in Manaus
        assert WINDOW.next_open(RIO_BRANCO, sp(2, 8)) == sp(2, 10)

    def test_several_zones_wait_for_the_last_to_open(self):
        # From noon in Moscow: Anadyr is closed until 08:00 there (20:00 UTC the day
        # before is past), Bucharest opens at 06:00 UTC; all open at 06:00 UTC.
        opens = WINDOW.next_open(RUSSIA, datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
        assert opens == datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
        assert WINDOW.is_open(RUSSIA, opens)

    def test_zones_that_never_share_an_hour_are_refused(self):
        # Pago Pago (UTC-11) and St John's (UTC-03:30) are 7h30 apart: a 3-hour window never
        # is open in both.
        with pytest.raises(BlipConfigError, match="never open at once"):
            SendWindow(time(9), time(12)).next_open(TOLL_FREE, sp(2, 12))
