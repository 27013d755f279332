"""Times and acknowledgements as people type them, in Swedish and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.convocation import Ack, dial_in, next_due, ordered, parse_ack, readable_phone
from bot.domain.model import Conference
from bot.domain.timeparse import looks_like_time, parse_when, split_when

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 22, 16, 0, tzinfo=TZ)  # a Sunday afternoon


def shown(instant: datetime) -> str:
    return instant.astimezone(TZ).strftime("%a %Y-%m-%d %H:%M")


@pytest.mark.parametrize(("text", "expected"), [
    ("18:00", "Sun 2026-11-22 18:00"),
    ("kl 14.30", "Mon 2026-11-23 14:30"),  # already passed today: tomorrow
    ("i morgon 08:00", "Mon 2026-11-23 08:00"),
    ("tomorrow 8", "Mon 2026-11-23 08:00"),
    ("måndag 12:00", "Mon 2026-11-23 12:00"),
    ("Monday 12:00", "Mon 2026-11-23 12:00"),
    ("söndag 10:00", "Sun 2026-11-29 10:00"),  # today's has passed: next week
    ("om 3h", "Sun 2026-11-22 19:00"),
    ("in 30 minutes", "Sun 2026-11-22 16:30"),
    ("om 2 timmar", "Sun 2026-11-22 18:00"),
    ("2026-12-24 15:00", "Thu 2026-12-24 15:00"),
])
def test_times_in_swedish_and_english(text: str, expected: str) -> None:
    assert shown(parse_when(text, NOW.astimezone(UTC), TZ)) == expected


@pytest.mark.parametrize("text", ["", "25:00", "snart", "måndag", "om", "om tre timmar", "2026-13-01 10:00"])
def test_what_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_when(text, NOW, TZ)


def test_a_time_skipped_by_dst_moves_forward() -> None:
    night = datetime(2026, 3, 28, 22, 0, tzinfo=TZ)
    assert shown(parse_when("i morgon 02:30", night, TZ)) == "Sun 2026-03-29 03:30"


def test_a_time_is_read_from_the_start_of_a_subject() -> None:
    when, rest = split_when(["i", "morgon", "09:00", "extra", "möte", "om", "elen"], NOW, TZ)
    assert when is not None and shown(when) == "Mon 2026-11-23 09:00"
    assert rest == ["extra", "möte", "om", "elen"]
    assert split_when(["elavbrott"], NOW, TZ) == (None, ["elavbrott"])


@given(st.text(max_size=60))
def test_any_text_is_a_time_or_a_value_error(text: str) -> None:
    """Any text gives an aware instant that reads back as itself, or a ValueError; nothing else."""
    try:
        when = parse_when(text, NOW, TZ)
    except ValueError:
        return
    assert when.tzinfo is not None
    written = when.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    assert parse_when(written, NOW, TZ) == when.replace(second=0, microsecond=0)


def test_acknowledgement_notes() -> None:
    assert parse_ack("", NOW, TZ) == Ack()
    assert parse_ack("ersättare", NOW, TZ) == Ack(deputy=True)
    assert parse_ack("deputy", NOW, TZ) == Ack(deputy=True)
    assert shown(parse_ack("kommer 17", NOW, TZ).joins_at or NOW) == "Sun 2026-11-22 17:00"
    joins = parse_ack("kommer 16:45", NOW, TZ).joins_at
    assert joins is not None and shown(joins) == "Sun 2026-11-22 16:45"
    later = parse_ack("coming in 20 min", NOW, TZ).joins_at
    assert later == NOW + timedelta(minutes=20)
    with pytest.raises(ValueError):
        parse_ack("kanske", NOW, TZ)


@pytest.mark.parametrize(("configured", "read"), [
    ("+46812345678", "08-123 456 78"), ("+46 8 123 45 67", "08-123 45 67"), ("+468123456", "08-12 34 56"),
    ("+46812345", "08-123 45"), ("+46311234567", "+46311234567"), ("08-123 456 78", "08-123 456 78"),
    ("+4681234", "+4681234"), ("+468123456789", "+468123456789"),
])
def test_a_number_is_written_as_people_read_it(configured: str, read: str) -> None:
    assert readable_phone(configured) == read


def test_dial_in_is_one_tap_with_the_pin() -> None:
    assert dial_in(Conference(phone="+46 8-123 456 78", pin="4711")) == "tel:+46812345678,,4711%23"
    assert dial_in(Conference(phone="+46812345678")) == "tel:+46812345678"
    assert dial_in(Conference()) is None


def test_convener_and_chair_first_then_configured_order_and_escalation_steps() -> None:
    assert ordered(["sos", "nacka", "lst-tib", "sos"], first=["lst-tib"]) == ["lst-tib", "sos", "nacka"]
    start = NOW
    assert next_due(start, timedelta(minutes=5), 0) == start + timedelta(minutes=5)
    assert next_due(start, timedelta(minutes=5), 1) == start + timedelta(minutes=10)
    assert next_due(start, timedelta(minutes=5), 2) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("tor 3 dec 10:00 (v. 49)", "Thu 2026-12-03 10:00"),  # the way the bot writes times, copied back
    ("tor 3 dec 10:00", "Thu 2026-12-03 10:00"),
    ("3 dec 10:00", "Thu 2026-12-03 10:00"),
    ("24 december 2026 15:00", "Thu 2026-12-24 15:00"),
    ("1 Jan 2027 00:30", "Fri 2027-01-01 00:30"),
])
def test_day_and_month_as_the_bot_writes_them(text: str, expected: str) -> None:
    assert shown(parse_when(text, NOW, TZ)) == expected


@pytest.mark.parametrize("words", ["25:99", "24:00", "31 feb 10:00", "om -2h", "in 5 fortnights", "fredag 25:00",
                                   "i morgon 08:61", "2026-13-01 10:00", "kl 25", "30 februari 2027 10:00"])
def test_what_looks_like_a_time_but_is_none_is_caught_not_taken_as_a_subject(words: str) -> None:
    assert looks_like_time(words.split())
    assert split_when(words.split(), NOW.astimezone(UTC), TZ)[0] is None
    with pytest.raises(ValueError):
        parse_when(words, NOW.astimezone(UTC), TZ)


@pytest.mark.parametrize("words", ["om budskapet", "extra avstämning", "fredag möte", "in case", "idag"])
def test_ordinary_words_are_not_mistaken_for_times(words: str) -> None:
    assert not looks_like_time(words.split())


DEC4 = datetime(2026, 12, 4, 15, 0, tzinfo=TZ)  # a Friday afternoon in December


@pytest.mark.parametrize(("written", "expected", "subject"), [
    ("3 personer saknas", None, "3 personer saknas"),  # a number alone is never a time
    ("10 minuter försenat", None, "10 minuter försenat"),
    ("1 jan 2027 10:00 genomgång", "Fri 2027-01-01 10:00", "genomgång"),  # a date with a year is read whole
    ("1 jan 10:00 genomgång", "Fri 2027-01-01 10:00", "genomgång"),  # January has passed: next year's
    ("kl 10 genomgång", "Sat 2026-12-05 10:00", "genomgång"),
    ("kl 3", "Sat 2026-12-05 03:00", ""),
    ("10:00", "Sat 2026-12-05 10:00", ""),
    ("10.00 vägar", "Sat 2026-12-05 10:00", "vägar"),
    ("i morgon 9 möte", "Sat 2026-12-05 09:00", "möte"),
    ("fredag 9", "Fri 2026-12-11 09:00", ""),
    ("3 dec 10:00", "Thu 2026-12-03 10:00", ""),  # yesterday stays yesterday: the caller refuses it
    ("tor 3 dec 10:00 (v. 49)", "Thu 2026-12-03 10:00", ""),
])
def test_what_is_read_as_the_time_and_what_stays_the_subject(written: str, expected: str | None,
                                                             subject: str) -> None:
    when, rest = split_when(written.split(), DEC4.astimezone(UTC), TZ)
    assert (shown(when) if when else None, " ".join(rest)) == (expected, subject)


@pytest.mark.parametrize("number", ["0", "3", "9", "10", "23"])
def test_a_bare_number_is_no_time_but_with_kl_it_is(number: str) -> None:
    with pytest.raises(ValueError, match="a number alone"):
        parse_when(number, DEC4.astimezone(UTC), TZ)
    assert shown(parse_when(f"kl {number}", DEC4.astimezone(UTC), TZ)).endswith(f"{int(number):02d}:00")


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)))
def test_the_times_people_type_hold_on_every_day_of_the_year(now: datetime) -> None:
    """'om 2h', 'i morgon 08:00' and 'kl 10' mean what they say across midnight, the end of a month and a year,
    and both switches of summer time."""
    local_today = now.astimezone(TZ).date()
    assert parse_when("om 2h", now, TZ) == now + timedelta(hours=2)
    tomorrow = parse_when("i morgon 08:00", now, TZ).astimezone(TZ)
    assert (tomorrow.date(), tomorrow.hour, tomorrow.minute) == (local_today + timedelta(days=1), 8, 0)
    ten = parse_when("kl 10", now, TZ)
    assert now < ten <= now + timedelta(hours=25)  # a day with the clocks put back has 25 hours
    assert (ten.astimezone(TZ).hour, ten.astimezone(TZ).minute) == (10, 0)
    assert ten.astimezone(TZ).date() in (local_today, local_today + timedelta(days=1))
