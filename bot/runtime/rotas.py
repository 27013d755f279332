"""Duty schedules at run time: each function's calendar as last read (from its feed, its stored copy, or a
spreadsheet import), expanded into shifts the roster asks, and looked at ahead every hour and after each change."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain import rota
from bot.domain.clock import Clock
from bot.domain.directory import Directory
from bot.domain.rota import Schedule
from bot.feeds import ical
from bot.feeds.http import FeedFault
from bot.flows import rota as rota_flow
from bot.runtime.dispatch import Dispatcher
from bot.state import feeds as feeds_store
from bot.state.db import Database

log = logging.getLogger(__name__)

EVERY = timedelta(hours=1)  # the schedules are looked at ahead this often (and after each change)
BACK = timedelta(days=7)  # a schedule is read from this far back (a gap under way is told from its real start)
BEYOND = timedelta(days=7)  # and this far past the look ahead (a gap reaching over the horizon, to its real end)
STALE = timedelta(days=1)  # a schedule feed failing this long is told to its organisation


class Rotas:
    def __init__(self, db: Database, dispatch: Dispatcher, clock: Clock,
                 world: Callable[[], tuple[Settings, Directory]]) -> None:
        self.db = db
        self.dispatch = dispatch
        self.clock = clock
        self.world = world  # the configuration and directory in force (a reload changes them)
        self._calendars: dict[str, list[Any]] = {}  # function id -> its calendar's events
        self._imported: dict[str, str | None] = {}  # function id -> the digest of the import in use
        self._checked: datetime | None = None
        self._failing: dict[str, str] = {}  # function id -> the incident id its expansion failed under

    async def changed(self, function_id: str, events: list[Any]) -> None:
        """A function's calendar, new or changed (or read from its stored copy at start): expanded, then looked at
        ahead. FeedFault when it cannot be expanded: the calendar read before stays in force."""
        now = self.clock.now()
        if not self._expand(function_id, now, events):
            raise FeedFault("the calendar could not be expanded; the last good copy stays")
        self._calendars[function_id] = events
        await self._look(function_id, f"rota:{function_id}:{now.isoformat()}", now)

    async def _look(self, function_id: str, key: str, now: datetime) -> None:
        """One function's look ahead, on its own: one that fails (logged with an incident id) stops no other."""
        await self.dispatch.run_internal(key, partial(rota_flow.look_ahead, function_ids=[function_id], now=now))

    def _expand(self, function_id: str, now: datetime, events: list[Any] | None = None) -> bool:
        """The shifts from a week back to a week beyond the look ahead, mapped to the people the bot knows; a gap
        reaching past either end is open there. False when the calendar cannot be expanded (logged once, with a
        traceback and an incident id, until it can again): the shifts expanded before stay in force."""
        settings, directory = self.world()
        function = directory.functions.get(function_id)
        if function is None:
            return True
        events = self._calendars.get(function_id, []) if events is None else events
        since, until = now - BACK, now + rota_flow.LOOK_AHEAD + BEYOND
        try:
            entries = ical.entries(events, ZoneInfo(settings.bot.timezone), since, until)
            found = rota.shifts(entries, settings.people, function.holders,
                                {user for f in settings.functions for user in f.holders})
        except Exception:  # one calendar the expansion trips on must not stop the others
            if function_id not in self._failing:
                incident = uuid.uuid4().hex[:8]
                self._failing[function_id] = incident
                log.exception("incident %s: the duty schedule of %s could not be expanded; the shifts read before "
                              "stay", incident, function_id, extra={"incident": incident})
            return False
        if self._failing.pop(function_id, None) is not None:
            log.info("the duty schedule of %s is expanded again", function_id)
        self.dispatch.schedules[function_id] = Schedule(function_id, tuple(found), since, until)
        return True

    async def imports(self) -> None:
        """The schedules imported from a spreadsheet (`roster import`) for functions without a feed, when new."""
        _, directory = self.world()
        async with self.db.session() as session:
            copies = await feeds_store.imported(session)
        for copy in copies:
            function_id = copy.name.removeprefix(feeds_store.SCHEDULE)
            function = directory.functions.get(function_id)
            if function is None or function.schedule or copy.body is None \
                    or self._imported.get(function_id) == copy.digest:
                continue
            self._imported[function_id] = copy.digest
            try:
                await self.changed(function_id, ical.read(copy.body.encode()))
            except FeedFault as exc:
                log.warning("the imported schedule of %s: %s", function_id, exc.reason)

    async def hourly(self) -> None:
        """Once an hour (called more often): imports taken, the schedules expanded afresh and looked at ahead, and a
        schedule feed failing for a day told to its organisation."""
        now = self.clock.now()
        if self._checked is not None and self._checked <= now < self._checked + EVERY:
            return
        self._checked = now
        await self.imports()
        for function_id in list(self._calendars):
            self._expand(function_id, now)  # one that fails keeps the shifts it had; the others go on
            await self._look(function_id, f"rota:hourly:{function_id}:{now.isoformat()}", now)
        _, directory = self.world()
        async with self.db.session() as session:
            failing = await feeds_store.failing_since(session, feeds_store.SCHEDULE, now - STALE)
        for copy in failing:
            function_id = copy.name.removeprefix(feeds_store.SCHEDULE)
            if copy.failing_since is not None and directory.functions.get(function_id) is not None:
                await self.dispatch.run_internal(
                    f"rota-stale:{function_id}:{copy.failing_since.isoformat()}",
                    partial(rota_flow.stale, function_id=function_id, since=copy.good_at or copy.failing_since))
