"""Scheduled meetings as steps: local times across DST, moves, cancellations, downtime."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from bot.domain.model import Forum, Meeting
from bot.domain.schedule import (
    CONVENE,
    DEADLINE,
    OPEN,
    REMIND,
    REQUEST,
    SUMMARY,
    Change,
    Occurrence,
    due_steps,
    forum_occurrences,
    next_step,
    report_week,
    steps,
)
from bot.ops.ics import calendar

TZ = ZoneInfo("Europe/Stockholm")
WEEKLY = Meeting(name="Veckomöte", rrule="FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0",
                 convene_before=timedelta(hours=24), remind_before=timedelta(minutes=15),
                 duration=timedelta(minutes=30))
FORUM = Forum.model_validate({"id": "samordnande", "name": "Samordnande", "level": "samordnande",
                              "room": "#s:example.org", "chair": "lst-tib", "ordinary": ["lst-tib"],
                              "meeting": [WEEKLY.model_dump()]})


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def shown(instant: datetime) -> str:
    return instant.astimezone(TZ).strftime("%a %d %b %H:%M")


def test_thursday_ten_stays_local_across_both_dst_switches() -> None:
    spring = forum_occurrences(FORUM, local(2026, 3, 20, 0, 0), local(2026, 4, 5, 0, 0), TZ)
    autumn = forum_occurrences(FORUM, local(2026, 10, 20, 0, 0), local(2026, 11, 5, 0, 0), TZ)
    assert [shown(o.starts_at) for o in spring] == ["Thu 26 Mar 10:00", "Thu 02 Apr 10:00"]
    assert [shown(o.starts_at) for o in autumn] == ["Thu 22 Oct 10:00", "Thu 29 Oct 10:00"]


def test_each_occurrence_is_convened_reminded_and_opened() -> None:
    occurrence = forum_occurrences(FORUM, local(2026, 11, 23, 0, 0), local(2026, 11, 30, 0, 0), TZ)[0]
    assert [(s.kind, shown(s.at)) for s in steps(occurrence)] == [
        (CONVENE, "Wed 25 Nov 10:00"), (REQUEST, "Wed 25 Nov 10:00"), (DEADLINE, "Thu 26 Nov 08:00"),
        (REMIND, "Thu 26 Nov 09:45"), (SUMMARY, "Thu 26 Nov 09:50"), (OPEN, "Thu 26 Nov 10:00")]
    assert len({s.key for s in steps(occurrence)}) == 6


def test_a_move_keeps_the_convocation_and_a_cancellation_removes_every_step() -> None:
    original = local(2026, 11, 26, 10, 0)
    moved = Change("samordnande", "Veckomöte", original, local(2026, 11, 27, 13, 0))
    occurrence = forum_occurrences(FORUM, local(2026, 11, 23, 0, 0), local(2026, 11, 30, 0, 0), TZ, [moved])[0]
    assert shown(occurrence.starts_at) == "Fri 27 Nov 13:00" and occurrence.moved
    plain = forum_occurrences(FORUM, local(2026, 11, 23, 0, 0), local(2026, 11, 30, 0, 0), TZ)[0]
    assert steps(occurrence)[0].key == steps(plain)[0].key  # convened once, not again for the move
    assert steps(occurrence)[-1].key != steps(plain)[-1].key
    assert [shown(s.at) for s in steps(occurrence) if s.kind == REMIND] == ["Fri 27 Nov 12:45"]
    cancelled = Change("samordnande", "Veckomöte", original, None)
    gone = forum_occurrences(FORUM, local(2026, 11, 23, 0, 0), local(2026, 11, 30, 0, 0), TZ, [cancelled])[0]
    assert gone.cancelled and steps(gone) == []


def test_steps_missed_during_downtime_are_found_once_in_order() -> None:
    due = due_steps([FORUM], [], since=local(2026, 11, 24, 12, 0), now=local(2026, 11, 26, 10, 5), tz=TZ)
    assert [s.kind for s in due] == [CONVENE, REQUEST, DEADLINE, REMIND, SUMMARY, OPEN]
    later = due_steps([FORUM], [], since=local(2026, 11, 26, 10, 5), now=local(2026, 11, 26, 12, 0), tz=TZ)
    assert later == []
    assert next_step([FORUM], [], local(2026, 11, 26, 10, 5), TZ) == local(2026, 12, 2, 10, 0)


def test_every_other_week_counts_from_the_configured_start() -> None:
    biweekly = WEEKLY.model_copy(update={"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;BYHOUR=10;BYMINUTE=0",
                                         "start": datetime(2026, 11, 5, 10, 0)})
    forum = FORUM.model_copy(update={"meetings": (biweekly,)})
    found = forum_occurrences(forum, local(2026, 11, 10, 0, 0), local(2026, 12, 20, 0, 0), TZ)
    assert [shown(o.starts_at) for o in found] == ["Thu 19 Nov 10:00", "Thu 03 Dec 10:00", "Thu 17 Dec 10:00"]


def test_the_calendar_export_has_each_meeting_in_utc_with_the_dial_in() -> None:
    forum = FORUM.model_copy(update={"conference": FORUM.conference.model_copy(update={"phone": "+46812345678",
                                                                                        "pin": "4711"})})
    cancelled = Change("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), None)
    found = forum_occurrences(forum, local(2026, 11, 23, 0, 0), local(2026, 12, 8, 0, 0), TZ, [cancelled])
    parsed = Calendar.from_ical(calendar(forum, found, local(2026, 11, 22, 12, 0)))
    events = list(parsed.walk("VEVENT"))
    assert [e.decoded("dtstart").astimezone(TZ).strftime("%d %b %H:%M") for e in events] == [
        "26 Nov 10:00", "03 Dec 10:00"]
    assert [str(e["status"]) for e in events] == ["CANCELLED", "CONFIRMED"]
    assert "tel:+46812345678,,4711%23" in str(events[1]["description"])
    assert len({str(e["uid"]) for e in events}) == 2


def _forum_with(meeting: Meeting) -> Forum:
    return FORUM.model_copy(update={"meetings": (meeting,)})


MONDAY = Meeting(name="Veckomöte", rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
                 convene_before=timedelta(hours=72), report_due_before=timedelta(hours=2))


def test_a_report_after_the_friday_request_belongs_to_the_monday_meeting() -> None:
    """Convened (and asked) on Friday of week 48 for Monday of week 49: the reports are week 49's."""
    forum = _forum_with(MONDAY)
    occurrence = forum_occurrences(forum, local(2026, 11, 30, 0, 0), local(2026, 12, 1, 0, 0), TZ)[0]
    request = next(s for s in steps(occurrence) if s.kind == REQUEST)
    assert shown(request.at) == "Fri 27 Nov 09:00"
    assert report_week(forum, [], local(2026, 11, 27, 8, 59), TZ) == (2026, 48), "before the request"
    assert report_week(forum, [], local(2026, 11, 27, 9, 0), TZ) == (2026, 49)
    assert report_week(forum, [], local(2026, 11, 29, 23, 0), TZ) == (2026, 49), "Sunday evening of week 48"
    assert report_week(forum, [], local(2026, 11, 30, 10, 0), TZ) == (2026, 49), "after the meeting, its week"


def test_the_report_week_across_the_new_year_and_a_moved_meeting() -> None:
    forum = _forum_with(MONDAY)
    # 2026 has an ISO week 53 (Mon 28 Dec - Sun 3 Jan); Monday 4 Jan 2027 is week 1 of 2027.
    assert report_week(forum, [], local(2026, 12, 25, 8, 0), TZ) == (2026, 52), "Friday 25 Dec, before the request"
    assert report_week(forum, [], local(2026, 12, 25, 12, 0), TZ) == (2026, 53), "asked for Monday 28 Dec"
    assert report_week(forum, [], local(2027, 1, 1, 10, 0), TZ) == (2027, 1), "asked on 1 Jan (week 53)"
    moved = Change("samordnande", "Veckomöte", local(2027, 1, 4, 9, 0), local(2027, 1, 7, 9, 0))
    assert report_week(forum, [moved], local(2027, 1, 1, 10, 0), TZ) == (2027, 1)
    cancelled = Change("samordnande", "Veckomöte", local(2027, 1, 4, 9, 0), None)
    assert report_week(forum, [cancelled], local(2027, 1, 1, 10, 0), TZ) == (2026, 53), "nobody asked"


def test_only_the_conferences_ask_for_lagesbilder() -> None:
    """A chefsgrupp meeting is convened, reminded and opened, but asks for no reports."""
    monthly = Meeting(name="Chefsgruppens möte", kind="chefsgrupp",
                      rrule="FREQ=MONTHLY;BYDAY=1WE;BYHOUR=13;BYMINUTE=0", convene_before=timedelta(hours=72))
    forum = _forum_with(monthly)
    occurrence = forum_occurrences(forum, local(2026, 12, 1, 0, 0), local(2026, 12, 31, 0, 0), TZ)[0]
    assert [s.kind for s in steps(occurrence)] == [CONVENE, REMIND, OPEN]
    assert report_week(forum, [], occurrence.starts_at - timedelta(hours=1), TZ) == (2026, 49)
    for kind in ("veckomöte", "extra"):
        assert REQUEST in {s.kind for s in steps(replace_kind(occurrence, kind))}


def replace_kind(occurrence: Occurrence, kind: str) -> Occurrence:
    return dataclasses.replace(occurrence, meeting=occurrence.meeting.model_copy(update={"kind": kind}))


def test_a_meeting_moved_earlier_is_convened_earlier() -> None:
    original = local(2026, 11, 26, 10, 0)
    earlier = Change("samordnande", "Veckomöte", original, local(2026, 11, 24, 9, 0))
    occurrence = forum_occurrences(FORUM, local(2026, 11, 23, 0, 0), local(2026, 11, 30, 0, 0), TZ, [earlier])[0]
    convene = next(s for s in steps(occurrence) if s.kind == CONVENE)
    assert shown(convene.at) == "Mon 23 Nov 09:00", "24 hours before the new time, not before the old"


def test_an_occurrence_at_the_window_s_start_is_in_it_and_one_at_its_end_is_not() -> None:
    thursday = local(2026, 11, 26, 10, 0)
    assert [o.starts_at for o in forum_occurrences(FORUM, thursday, thursday + timedelta(days=7), TZ)] == [thursday]
    assert forum_occurrences(FORUM, thursday - timedelta(days=7), thursday, TZ)[-1].starts_at < thursday


def test_a_meeting_moved_from_before_the_window_into_it_appears_once_and_only_its_own() -> None:
    start = local(2026, 11, 26, 12, 0)  # Thursday noon: the 10:00 meeting is before the window
    moved = Change("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), local(2026, 11, 27, 13, 0))
    decoys = [Change("annat-forum", "Veckomöte", local(2026, 11, 26, 10, 0), local(2026, 11, 27, 14, 0)),
              Change("samordnande", "Annat möte", local(2026, 11, 26, 10, 0), local(2026, 11, 27, 15, 0)),
              Change("samordnande", "Veckomöte", local(2026, 11, 19, 10, 0), None)]
    found = forum_occurrences(FORUM, start, local(2026, 11, 30, 0, 0), TZ, [*decoys, moved])
    assert [(o.forum.id, o.meeting.name, o.original, o.starts_at) for o in found] == [
        ("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), local(2026, 11, 27, 13, 0))]
    to_the_start = Change("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), start)
    assert [o.starts_at for o in forum_occurrences(FORUM, start, local(2026, 11, 30, 0, 0), TZ, [to_the_start])] \
        == [start]
    at_start = Change("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), local(2026, 11, 27, 9, 0))
    once = forum_occurrences(FORUM, local(2026, 11, 26, 10, 0), local(2026, 11, 30, 0, 0), TZ, [at_start])
    assert [o.starts_at for o in once] == [local(2026, 11, 27, 9, 0)]


EMPTY = Forum.model_validate({"id": "tom", "name": "Utan möten", "level": "samordnande", "room": "#t:example.org",
                              "chair": "lst-tib", "ordinary": ["lst-tib"]})
MONTHLY = FORUM.model_copy(update={"id": "chefsgrupp", "meetings": (Meeting(
    name="Chefsgruppens möte", kind="chefsgrupp", rrule="FREQ=MONTHLY;BYDAY=1WE;BYHOUR=13;BYMINUTE=0",
    convene_before=timedelta(hours=72)),)})


def test_due_steps_are_those_after_since_up_to_now_in_every_forum() -> None:
    convene = local(2026, 11, 25, 10, 0)  # for Thursday 26 Nov 10:00
    forums = [EMPTY, FORUM, MONTHLY]
    due = due_steps(forums, [], convene - timedelta(minutes=1), convene, TZ)
    assert [(s.occurrence.forum.id, s.kind) for s in due] == [("samordnande", CONVENE), ("samordnande", REQUEST)]
    assert due_steps(forums, [], convene, convene + timedelta(minutes=1), TZ) == [], "due at `since`: already run"
    opening = due_steps(forums, [], local(2026, 11, 26, 9, 59), local(2026, 11, 26, 10, 0), TZ)
    assert [s.kind for s in opening] == [OPEN]
    both = due_steps(forums, [], local(2026, 11, 29, 0, 0), local(2026, 12, 3, 10, 0), TZ)
    assert {s.occurrence.forum.id for s in both} == {"samordnande", "chefsgrupp"}
    moved = Change("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), local(2026, 11, 26, 14, 0))
    assert [s.kind for s in due_steps(forums, [moved], local(2026, 11, 26, 9, 59), local(2026, 11, 26, 10, 0),
                                      TZ)] == [], "moved: nothing opens at the old time"


def test_the_next_step_is_after_now_in_any_forum_and_follows_moves() -> None:
    convene = local(2026, 11, 25, 10, 0)
    assert next_step([EMPTY], [], convene, TZ) is None
    assert next_step([EMPTY, FORUM], [], convene, TZ) == local(2026, 11, 26, 8, 0), "the deadline, not now"
    # The chefsgrupp meets Wednesday 2 Dec 13:00, convened 72 hours before: more than a week's look ahead.
    assert next_step([MONTHLY], [], local(2026, 11, 19, 12, 0), TZ) == local(2026, 11, 29, 13, 0)
    assert next_step([FORUM, MONTHLY], [], local(2026, 11, 26, 12, 0), TZ) == local(2026, 11, 29, 13, 0), \
        "the chefsgrupp's convocation comes before the next weekly step"
    earlier = Change("samordnande", "Veckomöte", local(2026, 11, 26, 10, 0), local(2026, 11, 25, 18, 0))
    assert next_step([FORUM], [earlier], local(2026, 11, 25, 11, 0), TZ) == local(2026, 11, 25, 16, 0)


def test_without_a_request_a_report_is_for_the_week_it_is_filed() -> None:
    # The chefsgrupp is convened Sunday 29 Nov (week 48) for Wednesday 2 Dec (week 49), and asks for nothing.
    assert report_week(MONTHLY, [], local(2026, 11, 29, 14, 0), TZ) == (2026, 48)
    assert report_week(EMPTY, [], local(2026, 11, 29, 14, 0), TZ) == (2026, 48)
    assert report_week(EMPTY, [], local(2026, 11, 30, 0, 30), TZ) == (2026, 49), "Monday 00:30 in Stockholm"
    night = _forum_with(Meeting(name="Veckomöte", rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=0;BYMINUTE=30"))
    assert report_week(night, [], local(2026, 11, 29, 12, 0), TZ) == (2026, 49), "a meeting Monday 00:30 local"
