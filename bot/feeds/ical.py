"""Duty schedules as iCalendar feeds: read with `icalendar`, recurrences expanded with dateutil's rrule.

RRULE, EXDATE, RECURRENCE-ID (a moved occurrence), all-day events, floating times and VTIMEZONE are honoured;
a repeating shift keeps its wall-clock time across the DST switches (aware arithmetic in one zone is wall time).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
from dateutil.rrule import rrulestr

from bot.domain.rota import Entry
from bot.feeds.http import FeedFault

_UNTIL = re.compile(r"UNTIL=(\d{8})(T\d{6})?(Z?)")


# what a property icalendar or dateutil cannot read raises (icalendar's own errors are ValueErrors)
_UNREADABLE = (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError)


def read(body: bytes) -> list[icalendar.cal.Component]:
    """The feed's events; FeedFault when it is not a calendar, or when any event has a property the expansion
    cannot read (a FREQ, UNTIL or BYDAY of its own, a DTEND, DURATION, EXDATE or RECURRENCE-ID that is not a time):
    found here, so the last good copy stays, rather than at a look ahead."""
    try:
        calendar = icalendar.Calendar.from_ical(body)
        if calendar.name != "VCALENDAR":
            raise ValueError(f"a {calendar.name}, not a VCALENDAR")
        events = list(calendar.walk("VEVENT"))
        for event in events:
            if not isinstance(event.decoded("DTSTART"), date):
                raise ValueError(f"DTSTART is not a time: {str(event.get('DTSTART'))[:40]!r}")
            _check(event)
    except _UNREADABLE as exc:
        raise FeedFault(f"not a calendar ({type(exc).__name__}: {str(exc)[:100]})") from None
    return events


def _check(event: icalendar.cal.Component) -> None:
    """Every property `entries` reads, read once (the rule up to its first occurrence): raises what they would."""
    first, last = _span(event, UTC)
    if last - first < timedelta():
        return  # ends before it starts: no shift, whatever else it says
    _who(event)
    _excluded(event, UTC)
    if "RECURRENCE-ID" in event:
        _aware(event.decoded("RECURRENCE-ID"), UTC)
    if "RRULE" in event:
        next(iter(_rule(event, first, UTC)), None)


def _rule(event: icalendar.cal.Component, first: datetime, zone: tzinfo) -> Any:
    text = event["RRULE"].to_ical()
    return rrulestr(_until_in_utc(text.decode() if isinstance(text, bytes) else str(text), first.tzinfo or zone),
                    dtstart=first)


def _aware(value: date | datetime, zone: tzinfo) -> datetime:
    """A start or end as an aware time: a date is its local midnight, a floating time is local."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _span(event: icalendar.cal.Component, zone: tzinfo) -> tuple[datetime, datetime]:
    start_value = event.decoded("DTSTART")
    start = _aware(start_value, zone)
    if "DTEND" in event:
        end = _aware(event.decoded("DTEND"), start.tzinfo or zone)
    elif "DURATION" in event:
        end = start + event.decoded("DURATION")
    else:
        end = start + (timedelta(days=1) if not isinstance(start_value, datetime) else timedelta())
    return start, end


def _who(event: icalendar.cal.Component) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """The ATTENDEE and ORGANIZER addresses, the SUMMARY, and the common names (CN) given with the addresses."""
    people = [v for key in ("ATTENDEE", "ORGANIZER") for v in
              (event.get(key, []) if isinstance(event.get(key, []), list) else [event.get(key)]) if v]
    emails = [str(v).removeprefix("mailto:").removeprefix("MAILTO:") for v in people]
    names = [str(getattr(v, "params", {}).get("CN", "")).strip() for v in people]
    return tuple(emails), str(event.get("SUMMARY", "")).strip(), tuple(n for n in names if n)


def _until_in_utc(rule: str, zone: tzinfo) -> str:
    """RRULE's UNTIL as UTC, which dateutil wants beside an aware start (a date or local time is read locally)."""

    def utc(match: re.Match[str]) -> str:
        if match.group(3):
            return match.group(0)
        local = datetime.strptime(match.group(1) + (match.group(2) or "T235959"), "%Y%m%dT%H%M%S")
        return "UNTIL=" + local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return _UNTIL.sub(utc, rule)


def _excluded(event: icalendar.cal.Component, zone: tzinfo) -> set[datetime]:
    found: set[datetime] = set()
    values = event.get("EXDATE", [])
    for value in values if isinstance(values, list) else [values]:
        for dt in value.dts:
            found.add(_aware(dt.dt, zone).astimezone(UTC))
    return found


def entries(events: list[icalendar.cal.Component], zone: tzinfo, start: datetime, end: datetime) -> list[Entry]:
    """Every occurrence that overlaps [start, end), recurrences expanded and moved occurrences in their place."""
    moved: dict[str, set[datetime]] = defaultdict(set)
    for event in events:
        if "RECURRENCE-ID" in event:
            moved[str(event.get("UID"))].add(_aware(event.decoded("RECURRENCE-ID"), zone).astimezone(UTC))
    found: list[Entry] = []
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        first, last = _span(event, zone)
        length = last - first  # wall-clock length when both are in one zone
        emails, summary, names = _who(event)
        if "RRULE" not in event or "RECURRENCE-ID" in event:
            if first < end and last > start:
                found.append(Entry(first, last, emails, summary, names))
            continue
        skip = _excluded(event, zone) | moved.get(str(event.get("UID")), set())
        for occurrence in _rule(event, first, zone).between(start - length, end, inc=True):
            if occurrence.astimezone(UTC) in skip:
                continue
            finish = occurrence + length
            if occurrence < end and finish > start:
                found.append(Entry(occurrence, finish, emails, summary, names))
    return found
