"""Scheduled meetings as steps in time: convene, remind, open — with moves and cancellations.

Each occurrence of a `[[forum.meeting]]` produces its steps: the convocation `convene_before`
the start, a reminder `remind_before`, and the opening at the start. A meeting whose kind collects
lägesbilder also asks for them with the convocation, chases the missing at `report_due_before`
and posts the week's summary `summary_before` the start; the reports belong to the meeting's week.
A step has a key that names it for good, so it is carried out once whatever happens to the bot.
A moved occurrence keeps its convocation (people are told of the move) and gets its later steps
again at the new time.
Pure: forums, changes and times are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.lagesbild import week_of
from bot.domain.meetings import occurrences
from bot.domain.model import Forum, Meeting
from bot.domain.names import normalise

CONVENE, REMIND, OPEN = "convene", "remind", "open"
REQUEST, DEADLINE, SUMMARY = "request", "deadline", "summary"  # situation reports before the meeting
ORDER = (CONVENE, REQUEST, DEADLINE, SUMMARY, REMIND, OPEN)  # for steps at the same moment
LOOKAHEAD = timedelta(days=8)  # further than any convene_before in practice


@dataclass(frozen=True)
class Change:
    """One occurrence moved to `moved_to`, or cancelled (moved_to None)."""

    forum_id: str
    meeting: str
    original: datetime
    moved_to: datetime | None


@dataclass(frozen=True)
class Occurrence:
    forum: Forum
    meeting: Meeting
    original: datetime  # as the rule has it; names the occurrence
    starts_at: datetime  # after any move
    cancelled: bool = False

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + self.meeting.duration

    @property
    def moved(self) -> bool:
        return self.starts_at != self.original

    @property
    def key(self) -> str:
        return f"meeting:{self.forum.id}:{normalise(self.meeting.name).replace(' ', '-')}:{self.original.isoformat()}"


@dataclass(frozen=True)
class Step:
    occurrence: Occurrence
    kind: str
    at: datetime

    @property
    def key(self) -> str:
        """The convocation is named by the original time; reminder and opening by the actual one."""
        base = f"{self.occurrence.key}:{self.kind}"
        return base if self.kind == CONVENE else f"{base}:{self.occurrence.starts_at.isoformat()}"


def forum_occurrences(forum: Forum, start: datetime, end: datetime, tz: ZoneInfo,
                      changes: Sequence[Change] = ()) -> list[Occurrence]:
    """Occurrences of the forum's meetings that start in [start, end), moves and cancellations applied."""
    found: list[Occurrence] = []
    for meeting in forum.meetings:
        cursor = start - timedelta(seconds=1)
        while True:
            nxt = occurrences(meeting, cursor, tz)
            if not nxt or nxt[0] >= end + LOOKAHEAD:  # a move may bring a later one into the window
                break
            found.append(_applied(forum, meeting, nxt[0], changes))
            cursor = nxt[0]
        found += [Occurrence(forum, meeting, c.original, c.moved_to) for c in changes
                  if c.forum_id == forum.id and c.meeting == meeting.name and c.moved_to is not None
                  and c.original < start and start <= c.moved_to]
    return sorted((o for o in found if start <= o.starts_at < end), key=lambda o: o.starts_at)


def _applied(forum: Forum, meeting: Meeting, original: datetime, changes: Sequence[Change]) -> Occurrence:
    for change in changes:
        if change.forum_id == forum.id and change.meeting == meeting.name and change.original == original:
            if change.moved_to is None:
                return Occurrence(forum, meeting, original, original, cancelled=True)
            return Occurrence(forum, meeting, original, change.moved_to)
    return Occurrence(forum, meeting, original, original)


def steps(occurrence: Occurrence) -> list[Step]:
    if occurrence.cancelled:
        return []
    meeting = occurrence.meeting
    start = occurrence.starts_at
    convene_at = min(occurrence.original, start) - meeting.convene_before  # a move earlier convenes earlier
    found = [Step(occurrence, CONVENE, convene_at), Step(occurrence, REMIND, start - meeting.remind_before),
             Step(occurrence, OPEN, start)]
    if meeting.collects_reports:
        deadline = start - meeting.report_due_before
        found += [Step(occurrence, REQUEST, min(convene_at, deadline)), Step(occurrence, DEADLINE, deadline),
                  Step(occurrence, SUMMARY, start - meeting.summary_before)]
    return sorted(found, key=lambda s: (s.at, ORDER.index(s.kind)))


def report_week(forum: Forum, changes: Sequence[Change], now: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """(ISO year, week) a report filed `now` belongs to: the week of the meeting it has been asked for.

    From the moment a meeting's request goes out until the meeting starts, reports are for that
    meeting, even when the request went out in the week before (a Monday meeting convened on the
    Friday); otherwise the week of `now`.
    """
    longest = max((m.convene_before for m in forum.meetings), default=timedelta())
    for occurrence in forum_occurrences(forum, now, now + longest + LOOKAHEAD, tz, changes):
        asked = [s for s in steps(occurrence) if s.kind == REQUEST and s.at <= now]
        if asked:
            return week_of(occurrence.starts_at, tz)
    return week_of(now, tz)


def due_steps(forums: Iterable[Forum], changes: Sequence[Change], since: datetime, now: datetime,
              tz: ZoneInfo) -> list[Step]:
    """Steps that fell due in (since, now], in time order."""
    due: list[Step] = []
    for forum in forums:
        longest = max((m.convene_before for m in forum.meetings), default=timedelta())
        for occurrence in forum_occurrences(forum, since - longest, now + longest + timedelta(days=1), tz, changes):
            due += [s for s in steps(occurrence) if since < s.at <= now]
    return sorted(due, key=lambda s: (s.at, ORDER.index(s.kind)))


def next_step(forums: Iterable[Forum], changes: Sequence[Change], now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the next step falls due after `now`: within the coming week, else within a year (a monthly
    meeting alone must still wake the bot)."""
    forums = list(forums)
    for ahead in (LOOKAHEAD, timedelta(days=366)):
        upcoming: list[datetime] = []
        for forum in forums:
            longest = max((m.convene_before for m in forum.meetings), default=timedelta())
            for occurrence in forum_occurrences(forum, now, now + longest + ahead, tz, changes):
                upcoming += [s.at for s in steps(occurrence) if s.at > now]
        if upcoming:
            return min(upcoming)
    return None
