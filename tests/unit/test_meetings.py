"""Meeting occurrences stay at local wall-clock time across DST switches."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.domain.meetings import occurrences
from bot.domain.model import Meeting

STOCKHOLM = ZoneInfo("Europe/Stockholm")
WEEKLY = Meeting(name="Veckomöte", rrule="FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0")


def test_thursday_ten_oclock_stays_local_across_the_october_switch() -> None:
    starts = occurrences(WEEKLY, datetime(2026, 10, 15, tzinfo=UTC), STOCKHOLM, count=3)
    assert [s.astimezone(STOCKHOLM).strftime("%a %d %H:%M") for s in starts] == [
        "Thu 15 10:00", "Thu 22 10:00", "Thu 29 10:00"]
    assert [s.hour for s in starts] == [8, 8, 9]  # UTC moves, local time does not


def test_thursday_ten_oclock_stays_local_across_the_march_switch() -> None:
    starts = occurrences(WEEKLY, datetime(2026, 3, 20, tzinfo=UTC), STOCKHOLM, count=2)
    assert [s.astimezone(STOCKHOLM).hour for s in starts] == [10, 10]
    assert [s.hour for s in starts] == [9, 8]


def test_next_occurrence_is_strictly_after_now() -> None:
    at_start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # exactly 10:00 local on a Thursday
    (first,) = occurrences(WEEKLY, at_start, STOCKHOLM)
    assert first.astimezone(STOCKHOLM) == datetime(2026, 12, 3, 10, 0, tzinfo=STOCKHOLM)
