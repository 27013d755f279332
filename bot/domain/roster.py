"""Who holds a function at a given instant: rotation, stand-ins, deputies.

A function lists its `holders`. With a `rotation` they take turns: period n starts at the
hand-over plus n periods in local wall-clock time, so a Monday 12:00 hand-over stays at 12:00
across the DST switch. Without a rotation every listed holder is on duty together. A stand-in
(`!tjänstgör`) overrides both until it ends or is released; the latest one wins.
Pure: the stand-ins are given, the clock is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.directory import Directory
from bot.domain.model import Function
from bot.domain.rota import Schedule
from bot.domain.timeparse import at_local


@dataclass(frozen=True)
class StandIn:
    """Someone holding a function in place of the roster, from `since` until `until` (open if None)."""

    function_id: str
    user_id: str
    since: datetime
    until: datetime | None = None

    def covers(self, instant: datetime) -> bool:
        return self.since <= instant and (self.until is None or instant < self.until)


@dataclass(frozen=True)
class Duty:
    """Who holds a function at an instant, until when, and who comes next."""

    function: Function
    holders: tuple[str, ...]  # empty: nobody holds it now
    until: datetime | None = None  # None: no planned change
    next_holders: tuple[str, ...] = ()
    stand_in: StandIn | None = None
    source: str = "holders"  # what answered: stand_in | schedule | rotation | holders


def rotation_period(function: Function, instant: datetime, tz: ZoneInfo) -> tuple[int, datetime]:
    """(index of the holder on duty, start of the next period) for a rotating function; the hand-over
    is local wall-clock time, so it stays at noon across DST."""
    rotation = function.rotation
    assert rotation is not None
    handover = rotation.handover.replace(tzinfo=None)
    local = instant.astimezone(tz).replace(tzinfo=None)
    n = (local - handover) // rotation.every
    end = handover + (n + 1) * rotation.every
    return n % len(function.holders), at_local(end.date(), end.time(), tz)


class Roster:
    def __init__(self, directory: Directory, stand_ins: Sequence[StandIn], tz: ZoneInfo,
                 schedules: Mapping[str, Schedule] | None = None) -> None:
        self.directory = directory
        self.stand_ins = sorted(stand_ins, key=lambda s: s.since)
        self.tz = tz
        self.schedules: Mapping[str, Schedule] = schedules or {}

    def _stand_in(self, function_id: str, instant: datetime) -> StandIn | None:
        covering = [s for s in self.stand_ins if s.function_id == function_id and s.covers(instant)]
        return covering[-1] if covering else None

    def _scheduled(self, function: Function, instant: datetime) -> Duty:
        """The organisation's duty schedule where it names someone the bot knows; else the rotation; else
        every listed holder (a gap in a schedule never leaves the function without anyone to ring)."""
        schedule = self.schedules.get(function.id)
        holders = schedule.holders(instant) if schedule else ()
        if schedule and holders:
            until = min(s.end for s in schedule.at(instant) if s.holder)
            return Duty(function, holders, until=until, next_holders=schedule.holders(until), source="schedule")
        if function.rotation is None or not function.holders:
            return Duty(function, tuple(function.holders))
        index, end = rotation_period(function, instant, self.tz)
        after = function.holders[(index + 1) % len(function.holders)]
        return Duty(function, (function.holders[index],), until=end, next_holders=(after,), source="rotation")

    def duty(self, function_id: str, instant: datetime) -> Duty:
        function = self.directory.function(function_id)
        stand_in = self._stand_in(function.id, instant)
        if stand_in is None:
            return self._scheduled(function, instant)
        after = self.duty(function.id, stand_in.until) if stand_in.until else None
        return Duty(function, (stand_in.user_id,), until=stand_in.until,
                    next_holders=after.holders if after else (), stand_in=stand_in, source="stand_in")

    def holders(self, function_id: str, instant: datetime) -> tuple[str, ...]:
        return self.duty(function_id, instant).holders

    def deputies(self, function_id: str) -> list[Function]:
        return [self.directory.function(d) for d in self.directory.function(function_id).deputies]

    def functions_of(self, user_id: str, instant: datetime) -> list[Function]:
        """The functions a person may act for: those that list them, and those they stand in for."""
        held = self.directory.listed_functions(user_id)
        for stand_in in self.stand_ins:
            if stand_in.user_id == user_id and stand_in.covers(instant):
                function = self.directory.function(stand_in.function_id)
                if function not in held:
                    held.append(function)
        return held

    def may_stand_in(self, user_id: str, function: Function) -> bool:
        """People listed for the function or for another function of its organisation, and admins."""
        if self.directory.is_admin(user_id):
            return True
        return any(f.organisation == function.organisation for f in self.directory.listed_functions(user_id))
