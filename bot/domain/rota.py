"""Duty schedules as the organisations keep them: shifts read from a calendar feed, who holds a function at an
instant by them, and the gaps and overlaps in the days ahead. Pure: the shifts are given."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from bot.domain.model import Person
from bot.domain.names import normalise

_MATRIX_ID = re.compile(r"@[a-z0-9._=/+-]+:[A-Za-z0-9.-]+(?::\d+)?")


@dataclass(frozen=True)
class Entry:
    """One occurrence of an event in a feed, as the calendar has it: its time and who it names."""

    start: datetime
    end: datetime
    emails: tuple[str, ...] = ()  # ATTENDEE and ORGANIZER addresses
    summary: str = ""


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    who: str  # as the feed names the person
    holder: str | None  # their Matrix id; None: nobody the bot knows

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def holder_of(entry: Entry, people: Sequence[Person], holders: Sequence[str]) -> str | None:
    """The Matrix user an entry names: by e-mail address, by a Matrix id in the summary, or by name."""
    by_email = {p.email.casefold(): p.user for p in people if p.email}
    for email in entry.emails:
        if email.casefold() in by_email:
            return by_email[email.casefold()]
    found = _MATRIX_ID.search(entry.summary)
    if found:
        return found.group(0)
    name = normalise(entry.summary)
    for person in people:
        if name and normalise(person.name) == name:
            return person.user
    for user in holders:  # "anna" for @anna:example.org
        if name and normalise(user[1:].split(":", 1)[0]) == name:
            return user
    return None


def shifts(entries: Iterable[Entry], people: Sequence[Person], holders: Sequence[str]) -> list[Shift]:
    return sorted((Shift(e.start, e.end, e.emails[0] if e.emails else e.summary, holder_of(e, people, holders))
                   for e in entries if e.end > e.start), key=lambda s: (s.start, s.end))


@dataclass(frozen=True)
class Schedule:
    """A function's shifts from its feed, sorted by start; `source` names the feed for people ("Nacka kommuns
    beredskapsschema")."""

    function_id: str
    shifts: tuple[Shift, ...]

    def at(self, instant: datetime) -> list[Shift]:
        """The shifts that cover the instant."""
        i = bisect.bisect_right([s.start for s in self.shifts], instant)
        return [s for s in self.shifts[:i] if s.covers(instant)]

    def holders(self, instant: datetime) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.holder for s in self.at(instant) if s.holder))


GAP, UNKNOWN, OVERLAP = "gap", "unknown", "overlap"


@dataclass(frozen=True)
class Gap:
    """A stretch of time the schedule leaves uncovered, covers with someone the bot does not know, or covers twice."""

    kind: str  # gap | unknown | overlap
    start: datetime
    end: datetime
    who: tuple[str, ...] = ()  # unknown: as the feed names them; overlap: the holders


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[Gap]:
    """Every gap, unknown holder and overlap between start and end, in order, each stretch merged whole."""
    edges = sorted({start, end, *(t for s in schedule.shifts for t in (s.start, s.end) if start < t < end)})
    found: list[Gap] = []
    for a, b in pairwise(edges):
        on = schedule.at(a)
        known = tuple(dict.fromkeys(s.holder for s in on if s.holder))
        if not on:
            gap = Gap(GAP, a, b)
        elif not known:
            gap = Gap(UNKNOWN, a, b, tuple(dict.fromkeys(s.who for s in on)))
        elif len(known) > 1:
            gap = Gap(OVERLAP, a, b, known)
        else:
            continue
        last = found[-1] if found else None
        if last is not None and last.kind == gap.kind and last.end == gap.start and last.who == gap.who:
            found[-1] = Gap(gap.kind, last.start, gap.end, gap.who)
        else:
            found.append(gap)
    return found
