"""Duty schedules as the organisations keep them: shifts read from a calendar feed, who holds a function at an
instant by them, and the gaps and overlaps in the days ahead. Pure: the shifts are given.

Who an event names (one rule, documented in the README): an ATTENDEE or ORGANIZER address of a `[[person]]`;
else a Matrix id anywhere in the SUMMARY, read whole, when the bot knows it (a mistyped one names someone unknown);
else the name in the SUMMARY: whitespace collapsed, a trailing note in parentheses dropped, split at its labels (a
colon, or a dash with a space on each side), each part cut at its first comma and rid of phone numbers; a part
that is a `[[person]]`'s name or a holder's local part names them, else the last part that is not only a label
(`TiB`, `Jour`, ...) is the name; none: a nameless shift. A common name (CN) given with an address is a name too."""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise

from bot.domain.model import Person
from bot.domain.names import normalise

_MATRIX_ID = re.compile(r"@[A-Za-z0-9._=/+-]+:[A-Za-z0-9.-]+(?::\d+)?")
_LABEL = re.compile(r":|\s[-–—]\s")  # what ends a label in front of the name: a colon, or a dash set apart
_NOTE = re.compile(r"\s*\([^()]*\)?\s*$")  # a trailing note in parentheses: "(ersätter Bo)"
_PHONE = re.compile(r"\+?\d[\d\s/-]{4,}\d")  # a phone number, never repeated in a notice
# the words a SUMMARY labels a shift with rather than naming someone (compared without case, å ä ö)
LABELS = frozenset(normalise(w) for w in (
    "TiB", "Tjänsteman i beredskap", "RSIB", "Beredskap", "Beredskapshavande", "Jour", "Bakjour", "Primärjour",
    "Vakthavande", "VB", "Krisledning", "Pass", "Dag", "Natt", "Helg", "Kväll", "Vecka"))


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


def _parts(summary: str) -> list[str]:
    """The parts of a SUMMARY that may name someone, last first: whitespace collapsed, a trailing note in
    parentheses dropped, split at its labels, each part cut at its first comma (a phone number or a note after it),
    phone numbers taken out; a part without a letter, or one that is only a label (`TiB`), names nobody."""
    text = _NOTE.sub("", " ".join(summary.split()))
    found = []
    for part in reversed(_LABEL.split(text)):
        part = " ".join(_PHONE.sub(" ", part.split(",", 1)[0]).split())
        if any(c.isalpha() for c in part) and normalise(part) not in LABELS:
            found.append(part)
    return found


def summary_name(summary: str) -> str:
    """The name a SUMMARY gives: the last part that is not a label (`TiB: Anna Berg`, `Anna Berg - TiB`,
    `Jour - Anna Berg (ersätter Bo)` -> `Anna Berg`); a Matrix id in it is read whole; "" when it names nobody."""
    found = _MATRIX_ID.search(summary)
    if found:
        return found.group(0)
    parts = _parts(summary)
    return parts[0] if parts else ""


def _labelled(summary: str) -> bool:
    return bool(_LABEL.search(_MATRIX_ID.sub("", summary)))


def holder_of(entry: Entry, people: Sequence[Person], holders: Sequence[str],
              known: Collection[str] = ()) -> str | None:
    """The Matrix user an entry names: by e-mail address, by a Matrix id in the summary that the bot knows (a
    `[[person]]`, a holder of the function, or `known`), or by name (any part of the summary that is not a label,
    the last first, then a common name)."""
    by_email = {p.email.casefold(): p.user for p in people if p.email}
    for email in entry.emails:
        if email.casefold() in by_email:
            return by_email[email.casefold()]
    found = _MATRIX_ID.search(entry.summary)
    if found:
        listed = {u.casefold(): u for u in (*(p.user for p in people), *holders, *known)}
        return listed.get(found.group(0).casefold())  # a mistyped id is nobody the bot knows
    names = [normalise(n) for n in (*_parts(entry.summary), *entry.names) if n.strip()]
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
    in the summary), and an e-mail address or a Matrix id only when the calendar gives nothing else; "" when the
    shift names nobody at all."""
    known = next((p.name for p in people if holder is not None and p.user == holder), None)
    if known:
        return known
    named = next((n.strip() for n in entry.names if n.strip()), "")
    from_summary = summary_name(entry.summary)
    labelled = _labelled(entry.summary)  # beside an address, a bare SUMMARY is the duty ("Helgberedskap")
    if not named and from_summary and (labelled or not entry.emails or _MATRIX_ID.fullmatch(from_summary)):
        named = from_summary
    return named or (entry.emails[0] if entry.emails else "") or holder or ""


def shifts(entries: Iterable[Entry], people: Sequence[Person], holders: Sequence[str],
           known: Collection[str] = ()) -> list[Shift]:
    found = []
    for e in entries:
        if e.end > e.start:
            holder = holder_of(e, people, holders, known)
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


GAP, UNKNOWN, OVERLAP, NAMELESS = "gap", "unknown", "overlap", "nameless"


@dataclass(frozen=True)
class Gap:
    """A stretch of time the schedule leaves uncovered, covers with someone the bot does not know, or covers twice.
    `open_start`: it began before what the bot has read of the calendar; `open_end`: it goes on past it (at least
    until `end`)."""

    kind: str  # gap | unknown | overlap | nameless (a shift that names nobody)
    start: datetime
    end: datetime
    who: tuple[str, ...] = ()  # unknown and overlap: the people's names
    open_start: bool = False
    open_end: bool = False


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[Gap]:
    """Every gap, unknown name, nameless shift and overlap between start and end, in order, each stretch merged
    whole. A name the bot does not know is found even beside a holder it knows (it may be the one meant)."""
    edges = sorted({start, end, *(t for s in schedule.shifts for t in (s.start, s.end) if start < t < end)})
    found: list[Gap] = []
    running: dict[tuple[str, tuple[str, ...]], int] = {}  # (kind, who) -> its index in found, if it reaches `a`
    for a, b in pairwise(edges):
        on = schedule.at(a)
        known = tuple(dict.fromkeys(s.holder for s in on if s.holder))
        unknown = tuple(dict.fromkeys(s.who for s in on if not s.holder and s.who))
        here = [Gap(GAP, a, b)] if not on else []
        if unknown:
            here.append(Gap(UNKNOWN, a, b, unknown))
        if any(not s.holder and not s.who for s in on):
            here.append(Gap(NAMELESS, a, b))
        if len(known) > 1:
            here.append(Gap(OVERLAP, a, b, tuple(dict.fromkeys(s.who for s in on if s.holder))))
        reaching = {}
        for gap in here:
            index = running.get((gap.kind, gap.who))
            if index is not None and found[index].end == a:
                found[index] = replace(found[index], end=b)
            else:
                index = len(found)
                found.append(gap)
            reaching[(gap.kind, gap.who)] = index
        running = reaching
    return sorted(found, key=lambda g: g.start)


def ahead(schedule: Schedule, now: datetime, horizon: datetime) -> list[Gap]:
    """The gaps under way at `now` or beginning before `horizon`, each with its real start and end in the
    calendar as far as the schedule was read (not cut at `now` or at the horizon); open where it goes beyond."""
    since = min(schedule.since or now, now)
    until = max(schedule.until or horizon, horizon)
    return [replace(g, open_start=g.start <= since, open_end=g.end >= until)
            for g in gaps(schedule, since, until) if g.end > now and g.start < horizon]


def same(gap: Gap, start: datetime | None, end: datetime | None, reached: datetime | None = None) -> bool:
    """Whether a gap told before as [start, end) (None: open, and `reached`: how far an open end was told to reach
    at least) is this one, seen since as time went on: the same start and end; a start told that has since gone out
    of view (it lies at or before where this one is read from); an open end that has come into view at or past what
    was told. A told end that is now open, or a told open start that now has one, is a gap that grew or changed:
    another gap. The two must overlap."""
    starts = (start is None or start <= gap.start) if gap.open_start else start == gap.start
    closed_end = end == gap.end if end is not None else reached is None or gap.end >= reached
    ends = end is None if gap.open_end else closed_end
    return starts and ends and (start is None or start < gap.end) and (end is None or end > gap.start)
