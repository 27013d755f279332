"""Duty schedules as calendars keep them: recurrences, exceptions, moved occurrences, all-day shifts and the DST
switches read right; who a shift names; the gaps, unknown names and overlaps in a stretch of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.model import Person
from bot.domain.rota import (
    GAP,
    NAMELESS,
    OVERLAP,
    UNKNOWN,
    Entry,
    Gap,
    Schedule,
    Shift,
    ahead,
    gaps,
    holder_of,
    same,
    shifts,
    summary_name,
)
from bot.feeds.http import FeedFault
from bot.feeds.ical import entries, read

TZ = ZoneInfo("Europe/Stockholm")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def feed(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\nUID:{i}\r\nDTSTAMP:20261001T000000Z\r\n{e.replace(chr(10), chr(13) + chr(10))}"
                   f"\r\nEND:VEVENT\r\n" for i, e in enumerate(events))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t\r\n{body}END:VCALENDAR\r\n".encode()


def spans(body: bytes, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    return sorted((e.start, e.end) for e in entries(read(body), TZ, start, end))


def test_a_weekly_shift_keeps_its_wall_clock_time_across_both_dst_switches() -> None:
    body = feed("DTSTART;TZID=Europe/Stockholm:20260320T070000\nDTEND;TZID=Europe/Stockholm:20260327T070000\n"
                "RRULE:FREQ=WEEKLY")
    found = spans(body, local(2026, 3, 20), local(2026, 11, 1))
    assert all(s.hour == 7 and e.hour == 7 for s, e in found)
    assert (local(2026, 3, 27, 7), local(2026, 4, 3, 7)) in found  # summer time begins 29 March
    assert (local(2026, 10, 23, 7), local(2026, 10, 30, 7)) in found  # winter time begins 25 October
    assert found[1][1].astimezone(UTC) - found[1][0].astimezone(UTC) == timedelta(days=6, hours=23), \
        "a week less the hour lost"


def test_exdate_until_and_a_moved_occurrence() -> None:
    body = feed("DTSTART;TZID=Europe/Stockholm:20261102T080000\nDTEND;TZID=Europe/Stockholm:20261102T170000\n"
                "RRULE:FREQ=DAILY;UNTIL=20261106T080000Z\nEXDATE;TZID=Europe/Stockholm:20261103T080000",
                "DTSTART;TZID=Europe/Stockholm:20261104T100000\nDTEND;TZID=Europe/Stockholm:20261104T170000\n"
                "RECURRENCE-ID;TZID=Europe/Stockholm:20261104T080000")
    body = body.replace(b"UID:1", b"UID:0")  # the moved occurrence belongs to the same event
    assert spans(body, local(2026, 11, 1), local(2026, 11, 30)) == [
        (local(2026, 11, 2, 8), local(2026, 11, 2, 17)), (local(2026, 11, 4, 10), local(2026, 11, 4, 17)),
        (local(2026, 11, 5, 8), local(2026, 11, 5, 17)), (local(2026, 11, 6, 8), local(2026, 11, 6, 17))]


def test_all_day_floating_utc_and_cancelled_events() -> None:
    body = feed("DTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261226",
                "DTSTART:20261227T070000\nDTEND:20261227T190000",
                "DTSTART:20261228T060000Z\nDURATION:PT12H",
                "STATUS:CANCELLED\nDTSTART:20261229T060000Z\nDURATION:PT12H",
                "DTSTART;VALUE=DATE:20261230\nRRULE:FREQ=DAILY;UNTIL=20261231")
    assert spans(body, local(2026, 12, 1), local(2027, 1, 5)) == [
        (local(2026, 12, 24), local(2026, 12, 26)), (local(2026, 12, 27, 7), local(2026, 12, 27, 19)),
        (datetime(2026, 12, 28, 6, tzinfo=UTC), datetime(2026, 12, 28, 18, tzinfo=UTC)),
        (local(2026, 12, 30), local(2026, 12, 31)), (local(2026, 12, 31), local(2027, 1, 1))]


@pytest.mark.parametrize("body", [b"<html>Not Found</html>", b"BEGIN:VCARD\r\nEND:VCARD\r\n", b"",
                                  b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:nonsense\r\nEND:VEVENT\r\nEND:VCALENDAR"])
def test_what_is_not_a_calendar_is_refused(body: bytes) -> None:
    with pytest.raises(FeedFault, match="not a calendar"):
        read(body)


PEOPLE = (Person(user="@nina:x", name="Nina Nilsson", email="nina@nacka.se"),
          Person(user="@olle:x", name="Olle Olsson"))


def test_who_a_shift_names() -> None:
    at = local(2026, 11, 2)
    assert holder_of(Entry(at, at, ("NINA@nacka.se",)), PEOPLE, ()) == "@nina:x"
    assert holder_of(Entry(at, at, (), "olle olsson"), PEOPLE, ()) == "@olle:x"
    assert holder_of(Entry(at, at, (), "Jour: @kim:x"), PEOPLE, ("@kim:x",)) == "@kim:x", "a holder's Matrix id"
    assert holder_of(Entry(at, at, (), "Jour: @kim:x"), PEOPLE, (), ("@kim:x",)) == "@kim:x", "listed elsewhere"
    assert holder_of(Entry(at, at, (), "Jour – @Nina:x"), PEOPLE, ()) == "@nina:x", "read whole, any case"
    assert holder_of(Entry(at, at, (), "kim"), PEOPLE, ("@kim:x",)) == "@kim:x"
    assert holder_of(Entry(at, at, ("maja@nacka.se",), "Maja"), PEOPLE, ()) is None


@pytest.mark.parametrize(("summary", "name"), [
    ("TiB: Anna Berg", "Anna Berg"), ("Beredskap – Anna Berg", "Anna Berg"), ("Jour - Anna Berg", "Anna Berg"),
    ("Beredskap — TiB: Anna Berg", "Anna Berg"), ("Anna-Karin Berg", "Anna-Karin Berg"), ("Anna Berg", "Anna Berg"),
    ("TiB:Anna Berg", "Anna Berg"), ("TiB: ", ""), ("TiB:", ""), ("", ""), ("Jour", ""),
    ("TiB: Anna  Berg", "Anna Berg"), ("Jour: Anna\u00a0Berg ", "Anna Berg"), ("Anna Berg – TiB", "Anna Berg"),
    ("Jour – Anna Berg (ersätter Bo)", "Anna Berg"), ("TiB – Anna Berg, 070-1234567", "Anna Berg"),
    ("TiB: Anna Berg 070-123 45 67", "Anna Berg"), ("TiB: 070-1234567", ""),
    ("Jour – @anna:lst.test", "@anna:lst.test"), ("TiB: @anna:lst.test (ersätter Bo)", "@anna:lst.test")])
def test_the_name_in_a_summary_is_what_follows_its_last_label(summary: str, name: str) -> None:
    """Whitespace collapsed, a Matrix id read whole, a trailing note or phone number dropped, a label-only part
    skipped for the one before it; "" when it names nobody."""
    assert summary_name(summary) == name


def test_a_holder_named_in_the_summary_after_a_label_is_read_and_shown_by_name() -> None:
    at = local(2026, 11, 2)
    people = (*PEOPLE, Person(user="@cecilia:x", name="Cecilia Holm"))
    for summary in ("TiB: Cecilia Holm", "Beredskap – Cecilia Holm", "Jour: cecilia holm",
                    "Beredskap - TiB: Cecilia Holm"):
        assert holder_of(Entry(at, at, (), summary), people, ()) == "@cecilia:x", summary
    assert holder_of(Entry(at, at, (), "Jour: Maja"), people, ("@maja:x",)) == "@maja:x", "a holder's local part"
    found = shifts([Entry(at, local(2026, 11, 3), ("nina@nacka.se",), "TiB"),
                    Entry(at, local(2026, 11, 3), ("maja@nacka.se",), "Jour", ("Maja Svensson",)),
                    Entry(at, local(2026, 11, 3), ("kim@nacka.se",), "Jour: Kim Ek"),
                    Entry(at, local(2026, 11, 3), ("bo@nacka.se",), "bo@nacka.se"),
                    Entry(at, local(2026, 11, 3), ("li@nacka.se",), "TiB"),
                    Entry(at, local(2026, 11, 3), (), "Beredskap – Li Ek")], people, ())
    assert [(s.who, s.holder) for s in found] == [("Nina Nilsson", "@nina:x"), ("Maja Svensson", None),
                                                  ("Kim Ek", None), ("bo@nacka.se", None), ("li@nacka.se", None),
                                                  ("Li Ek", None)], \
        "the [[person]]'s name, else the calendar's; an address only when the calendar gives no name"


def test_a_gap_is_found_with_its_real_start_and_end_not_cut_at_the_look_or_the_horizon() -> None:
    schedule = Schedule("nacka-tib", (
        Shift(local(2026, 11, 1, 7), local(2026, 11, 2, 7), "Nina", "@nina:x"),
        Shift(local(2026, 11, 4, 7), local(2026, 11, 20, 7), "Nina", "@nina:x")),
        since=local(2026, 10, 27, 9), until=local(2026, 11, 24, 9))
    now = local(2026, 11, 3, 9)
    assert ahead(schedule, now, local(2026, 11, 17, 9)) == [Gap(GAP, local(2026, 11, 2, 7), local(2026, 11, 4, 7))], \
        "under way: from the end of the last shift; the one after the horizon is not yet ahead"
    later = ahead(schedule, local(2026, 11, 10, 9), local(2026, 11, 24, 9))
    assert later == [Gap(GAP, local(2026, 11, 20, 7), local(2026, 11, 24, 9), open_end=True)]
    empty = Schedule("nacka-tib", (), since=local(2026, 10, 27, 9), until=local(2026, 11, 24, 9))
    assert ahead(empty, now, local(2026, 11, 17, 9)) == [
        Gap(GAP, local(2026, 10, 27, 9), local(2026, 11, 24, 9), open_start=True, open_end=True)]


def test_a_gap_told_before_is_the_same_gap_when_one_of_its_ends_has_come_into_or_gone_out_of_view() -> None:
    gap = Gap(GAP, local(2026, 11, 20, 7), local(2026, 11, 27, 7))
    assert same(gap, local(2026, 11, 20, 7), local(2026, 11, 27, 7))
    assert same(gap, local(2026, 11, 20, 7), None), "told as open-ended, its end now known"
    assert same(Gap(GAP, local(2026, 11, 21), local(2026, 11, 27, 7), open_start=True), local(2026, 11, 20, 7),
                local(2026, 11, 27, 7)), "its start gone out of view (read now from the 21st)"
    assert same(gap, local(2026, 11, 20, 7), None, local(2026, 11, 24)), "its end came into view past what was told"
    assert not same(gap, local(2026, 11, 20, 7), None, local(2026, 11, 28)), \
        "told 'at least until the 28th', now ending on the 27th: the calendar changed, another gap"
    assert not same(Gap(GAP, local(2026, 11, 20, 7), local(2026, 12, 1), open_end=True), local(2026, 11, 20, 7),
                    local(2026, 11, 22, 7)), "told with its end, now reaching past what is read: it grew, another gap"
    assert not same(Gap(GAP, local(2026, 11, 1), local(2026, 12, 1), open_start=True, open_end=True),
                    local(2026, 11, 20, 7), local(2026, 11, 22, 7)), "a calendar emptied: another gap"
    assert not same(Gap(GAP, local(2026, 11, 1), local(2026, 11, 27, 7), open_start=True), local(2026, 11, 20, 7),
                    local(2026, 11, 27, 7)), "its start told in view but now before what is read: it grew"
    assert not same(gap, local(2026, 11, 20, 7), local(2026, 11, 26, 7)), "another end: another gap"
    assert not same(gap, local(2026, 11, 21, 7), None)
    assert not same(Gap(GAP, local(2026, 11, 1), local(2026, 11, 10), open_start=True), None,
                    local(2026, 11, 27, 7)), "another end"
    assert not same(Gap(GAP, local(2026, 12, 1), local(2026, 12, 2), open_end=True), None, local(2026, 11, 27, 7)), \
        "open on both sides, but not overlapping: not the same"


def test_gaps_unknown_names_and_overlaps_are_found_whole_and_nothing_else() -> None:
    def shift(day: int, start: int, end_day: int, end: int, who: str, holder: str | None) -> Shift:
        return Shift(local(2026, 11, day, start), local(2026, 11, end_day, end), who, holder)

    schedule = Schedule("nacka-tib", (
        shift(2, 7, 4, 7, "Nina", "@nina:x"), shift(4, 12, 5, 7, "Olle", "@olle:x"),
        shift(5, 7, 6, 7, "Maja", None), shift(5, 19, 6, 7, "Olle", "@olle:x"),
        shift(6, 7, 9, 7, "Nina", "@nina:x"), shift(7, 10, 7, 12, "Olle", "@olle:x")))
    assert schedule.holders(local(2026, 11, 3)) == ("@nina:x",)
    assert schedule.holders(local(2026, 11, 4, 8)) == ()
    assert gaps(schedule, local(2026, 11, 2, 7), local(2026, 11, 9, 7)) == [
        Gap(GAP, local(2026, 11, 4, 7), local(2026, 11, 4, 12)),
        Gap(UNKNOWN, local(2026, 11, 5, 7), local(2026, 11, 6, 7), ("Maja",)),
        Gap(OVERLAP, local(2026, 11, 7, 10), local(2026, 11, 7, 12), ("Nina", "Olle"))]
    assert gaps(schedule, local(2026, 11, 9, 7), local(2026, 11, 10)) == [
        Gap(GAP, local(2026, 11, 9, 7), local(2026, 11, 10))]
    assert shifts([Entry(local(2026, 11, 2), local(2026, 11, 1), (), "Nina Nilsson")], PEOPLE, ()) == [], \
        "a shift that ends before it starts is no shift"


def test_a_zone_the_calendar_defines_itself_as_outlook_writes_it() -> None:
    zone = ("BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n"
            "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
            "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
    body = feed("DTSTART;TZID=W. Europe Standard Time:20261023T070000\n"
                "DTEND;TZID=W. Europe Standard Time:20261030T070000\nRRULE:FREQ=WEEKLY;COUNT=2")
    body = body.replace(b"BEGIN:VEVENT", zone.encode() + b"BEGIN:VEVENT", 1)
    assert [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in spans(body, local(2026, 10, 1), local(2026, 12, 1))] \
        == [(datetime(2026, 10, 23, 5, tzinfo=UTC), datetime(2026, 10, 30, 6, tzinfo=UTC)),
            (datetime(2026, 10, 30, 6, tzinfo=UTC), datetime(2026, 11, 6, 6, tzinfo=UTC))]


@pytest.mark.parametrize("broken", [
    ("RRULE:FREQ=WEEKLY", "RRULE:FREQ=FORTNIGHTLY"), ("RRULE:FREQ=WEEKLY", "RRULE:FREQ=WEEKLY;UNTIL=2026"),
    ("RRULE:FREQ=WEEKLY", "RRULE:FREQ=WEEKLY;BYDAY=XX"),
    ("DTEND;TZID=Europe/Stockholm:20261109T070000", "DTEND:garbage"),
    ("DTEND;TZID=Europe/Stockholm:20261109T070000", "DURATION:P1X"),
    ("RRULE:FREQ=WEEKLY", "RRULE:FREQ=WEEKLY\nEXDATE:notadate"),
    ("RRULE:FREQ=WEEKLY", "RECURRENCE-ID:xx"),
], ids=["freq", "until", "byday", "dtend", "duration", "exdate", "recurrence-id"])
def test_a_calendar_with_a_property_the_expansion_cannot_read_is_refused_when_read(broken: tuple[str, str]) -> None:
    """Refused at read (the last good copy stays, the feed shows stale), never at a look ahead."""
    good = ("SUMMARY:TiB: Nina Nilsson\nDTSTART;TZID=Europe/Stockholm:20261106T170000\n"
            "DTEND;TZID=Europe/Stockholm:20261109T070000\nRRULE:FREQ=WEEKLY")
    assert len(spans(feed(good), local(2026, 11, 1), local(2026, 11, 30))) == 4
    with pytest.raises(FeedFault, match="not a calendar"):
        read(feed(good.replace(*broken)))


def test_a_matrix_id_nobody_knows_names_nobody_and_the_roster_falls_through() -> None:
    """A mistyped Matrix id is an unknown name, never the holder rung."""
    from bot.config import parse_settings
    from bot.domain.directory import Directory
    from bot.domain.roster import Roster

    settings = parse_settings({
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:x"},
        "organisation": [{"id": "nacka", "name": "Nacka kommun"}],
        "function": [{"id": "nacka-tib", "organisation": "nacka", "name": "TiB", "holders": ["@nacka:x"]}],
        "person": [{"user": "@nina:x", "name": "Nina Nilsson"}]})
    start, end = local(2026, 11, 2, 7), local(2026, 11, 2, 19)
    for summary, holder in (("TiB: @nnia:x", None), ("TiB: @nina:x", "@nina:x"), ("TiB: @nacka:x", "@nacka:x")):
        found = shifts([Entry(start, end, (), summary)], settings.people, ("@nacka:x",))
        schedule = Schedule("nacka-tib", tuple(found), start, end)
        roster = Roster(Directory.build(settings), [], TZ, {"nacka-tib": schedule})
        duty = roster.duty("nacka-tib", local(2026, 11, 2, 9))
        assert found[0].holder == holder, summary
        assert (duty.source, duty.holders) == (("schedule", (holder,)) if holder else ("holders", ("@nacka:x",)))
        assert gaps(schedule, start, end) == ([Gap(UNKNOWN, start, end, ("@nnia:x",))] if holder is None else []), \
            "one unknown name, told as the calendar writes it"


def test_a_shift_that_names_nobody_is_nameless_and_an_unknown_name_beside_a_known_holder_is_found() -> None:
    at, end = local(2026, 11, 2, 7), local(2026, 11, 2, 19)
    found = shifts([Entry(at, end, (), "TiB:"), Entry(at, end, (), "TiB: Nina Nilsson"),
                    Entry(at, end, (), "Jour – Maja Svensson, 070-1234567")], PEOPLE, ())
    assert [(s.who, s.holder) for s in found] == [("", None), ("Nina Nilsson", "@nina:x"), ("Maja Svensson", None)]
    assert gaps(Schedule("nacka-tib", tuple(found)), at, end) == [
        Gap(UNKNOWN, at, end, ("Maja Svensson",)), Gap(NAMELESS, at, end)], "no overlap: one holder is known"
