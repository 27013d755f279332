"""iCalendar export of a forum's upcoming meetings, so members can put them in their calendars."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.convocation import dial_in
from bot.domain.model import Forum
from bot.domain.schedule import Occurrence

PRODID = "-//Samverkan bot//samverkan//SV"
HORIZON = timedelta(weeks=12)  # how far ahead an export reaches


def calendar(forum: Forum, occurrences: list[Occurrence], now: datetime) -> str:
    """One VEVENT per occurrence (cancelled ones marked CANCELLED), times in UTC."""
    from icalendar import Calendar, Event  # a large import, for a command seldom used: on first use

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", forum.name)
    for occurrence in occurrences:
        event = Event()
        event.add("uid", f"{occurrence.key}@samverkan")
        event.add("summary", f"{occurrence.meeting.name} — {forum.name}")
        event.add("dtstart", occurrence.starts_at)
        event.add("dtend", occurrence.ends_at)
        event.add("dtstamp", now)
        event.add("status", "CANCELLED" if occurrence.cancelled else "CONFIRMED")
        lines = []
        tel = dial_in(forum.conference)
        if tel:
            lines.append(f"Ring in: {forum.conference.phone}" + (f", PIN {forum.conference.pin}" if
                                                                   forum.conference.pin else "") + f" ({tel})")
        if forum.conference.url:
            lines.append(f"Video: {forum.conference.url}")
            event.add("url", forum.conference.url)
        if lines:
            event.add("description", "\n".join(lines))
            event.add("location", forum.conference.url or forum.conference.phone or "")
        event.add("sequence", 1 if occurrence.moved or occurrence.cancelled else 0)
        cal.add_component(event)
    text: str = cal.to_ical().decode()
    return text

