"""Duty schedules as the organisations keep them: shifts read from a calendar feed, who holds a function at an
instant by them, and the gaps and overlaps in the days ahead. Pure: the shifts are given.

Who an event names (one rule, documented in the README): an ATTENDEE or ORGANIZER address of a `[[person]]`;
else a Matrix id anywhere in the SUMMARY; else the name in the SUMMARY, which is the text after its last label,
a colon or a dash (hyphen, en or em dash) with a space on each side (`TiB: Anna Berg`, `Beredskap - Anna Berg`,
`Jour - Anna Berg`, `Beredskap - TiB: Anna Berg`), or the whole SUMMARY when it has none; a name is matched to
a `[[person]]`'s name, then to a holder's Matrix id by its local part, in any case and with or without å ä ö.
A common name (CN) given with an address is a name too."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise

from bot.domain.model import Person
from bot.domain.names import normalise

_MATRIX_ID = re.compile(r"@[a-z0-9._=/+-]+:[A-Za-z0-9.-]+(?::\d+)?")
_LABEL = re.compile(r":|\s[-–—]\s")  # what ends a label in front of the name: a colon, or a dash set apart


@dataclass(frozen=True)
class Entry:
    """One occurrence of an event in a feed, as the calendar has it: its time and who it names."""

    start: datetime
    end: datetime
    emails: tuple[str, ...] = ()  # ATTENDEE and ORGANIZER addresses
    summary: str = ""
    names: tuple[str, ...] = ()  # the common names (CN) the calendar gives those addresses


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    who: str  # the person's name: their [[person]] name, else as the calendar names them
    holder: str | None  # their Matrix id; None: nobody the bot knows

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def summary_name(summary: str) -> str:
    """The name a SUMMARY gives: the text after its last label (`TiB: Anna Berg` -> `Anna Berg`), or all of it."""
    parts = _LABEL.split(summary)
    return parts[-1].strip() if parts[-1].strip() else summary.strip()


def holder_of(entry: Entry, people: Sequence[Person], holders: Sequence[str]) -> str | None:
    """The Matrix user an entry names: by e-mail address, by a Matrix id in the summary, or by name."""
    by_email = {p.email.casefold(): p.user for p in people if p.email}
    for email in entry.emails:
        if email.casefold() in by_email:
            return by_email[email.casefold()]
    found = _MATRIX_ID.search(entry.summary)
    if found:
        return found.group(0)
    names = [normalise(n) for n in (summary_name(entry.summary), entry.summary, *entry.names) if n.strip()]
    for name in names:
        for person in people:
            if normalise(person.name) == name:
                return person.user
    for name in names:
        for user in holders:  # "anna" for @anna:example.org
            if normalise(user[1:].split(":", 1)[0]) == name:
                return user
    return None


def name_of(entry: Entry, holder: str | None, people: Sequence[Person]) -> str:
    """How people are told who a shift names: the [[person]]'s name, else the calendar's (a common name, the name
    in the summary), and an e-mail address or a Matrix id only when the calendar gives nothing else."""
    known = next((p.name for p in people if holder is not None and p.user == holder), None)
    if known:
        return known
    named = next((n.strip() for n in entry.names if n.strip()), "")
    from_summary = summary_name(entry.summary)
    labelled = from_summary != entry.summary.strip()  # beside an address, a bare SUMMARY is the duty ("TiB")
    if not named and from_summary and (labelled or not entry.emails) and not _MATRIX_ID.fullmatch(from_summary):
        named = from_summary
    return named or (entry.emails[0] if entry.emails else "") or holder or entry.summary.strip()


def shifts(entries: Iterable[Entry], people: Sequence[Person], holders: Sequence[str]) -> list[Shift]:
    found = []
    for e in entries:
        if e.end > e.start:
            holder = holder_of(e, people, holders)
            found.append(Shift(e.start, e.end, name_of(e, holder, people), holder))
    return sorted(found, key=lambda s: (s.start, s.end))


@dataclass(frozen=True)
class Schedule:
    """A function's shifts from its feed, sorted by start, as read for the stretch [since, until) (None: as far
    as the shifts go); outside it the bot does not know the calendar."""

    function_id: str
    shifts: tuple[Shift, ...]
    since: datetime | None = None
    until: datetime | None = None

    def at(self, instant: datetime) -> list[Shift]:
        """The shifts that cover the instant."""
        i = bisect.bisect_right([s.start for s in self.shifts], instant)
        return [s for s in self.shifts[:i] if s.covers(instant)]

    def holders(self, instant: datetime) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.holder for s in self.at(instant) if s.holder))


GAP, UNKNOWN, OVERLAP = "gap", "unknown", "overlap"


@dataclass(frozen=True)
class Gap:
    """A stretch of time the schedule leaves uncovered, covers with someone the bot does not know, or covers twice.
    `open_start`: it began before what the bot has read of the calendar; `open_end`: it goes on past it (at least
    until `end`)."""

    kind: str  # gap | unknown | overlap
    start: datetime
    end: datetime
    who: tuple[str, ...] = ()  # unknown and overlap: the people's names
    open_start: bool = False
    open_end: bool = False


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
            gap = Gap(OVERLAP, a, b, tuple(dict.fromkeys(s.who for s in on if s.holder)))
        else:
            continue
        last = found[-1] if found else None
        if last is not None and last.kind == gap.kind and last.end == gap.start and last.who == gap.who:
            found[-1] = replace(last, end=gap.end)
        else:
            found.append(gap)
    return found


def ahead(schedule: Schedule, now: datetime, horizon: datetime) -> list[Gap]:
    """The gaps under way at `now` or beginning before `horizon`, each with its real start and end in the
    calendar as far as the schedule was read (not cut at `now` or at the horizon); open where it goes beyond."""
    since = min(schedule.since or now, now)
    until = max(schedule.until or horizon, horizon)
    return [replace(g, open_start=g.start <= since, open_end=g.end >= until)
            for g in gaps(schedule, since, until) if g.end > now and g.start < horizon]


def same(gap: Gap, start: datetime | None, end: datetime | None) -> bool:
    """Whether a gap told before as [start, end) (None: open) is this one: the same start and end, where an open
    side matches any time on that side (a gap whose end came into view, one whose start went out of view), as long
    as the two overlap."""
    this_start, this_end = (None if gap.open_start else gap.start), (None if gap.open_end else gap.end)
    if start is not None and this_start is not None and start != this_start:
        return False
    if end is not None and this_end is not None and end != this_end:
        return False
    return (start is None or start < gap.end) and (end is None or end > gap.start)
