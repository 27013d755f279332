"""Scheduled meetings at run time: APScheduler wakes the bot when the next step falls due.

The plan is rebuilt from the configuration and the database (moves, cancellations, what was
already done) at start and after every change; APScheduler only holds the next wake-up. Steps
that fell due while the bot was down run at start, late, and each step runs once (its key is
remembered like an event id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.domain.clock import Clock
from bot.domain.directory import Directory
from bot.domain.schedule import Step, due_steps, next_step
from bot.flows.context import Context
from bot.flows.meeting_steps import run_step
from bot.messages import Outgoing
from bot.runtime.dispatch import Dispatcher
from bot.state import meetings as store
from bot.state import repo
from bot.state.db import Database

log = logging.getLogger(__name__)

CHECKED_UNTIL = "schedule_checked_until"
LOOKBACK = timedelta(days=7)  # how far back missed steps are looked for after downtime
JOB_ID = "meetings"
COALESCE = 1.0  # seconds


class MeetingScheduler:
    def __init__(self, db: Database, dispatch: Dispatcher, directory: Directory, clock: Clock) -> None:
        self.db = db
        self.dispatch = dispatch
        self.directory = directory
        self.clock = clock
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._replan = asyncio.Event()
        self.stopped = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.directory.settings.bot.timezone)

    def notify(self) -> None:
        self._replan.set()

    async def run(self) -> None:
        """Plan again whenever something may have changed the schedule."""
        while not self.stopped:
            await self._replan.wait()
            if self.stopped:
                break
            await asyncio.sleep(COALESCE)  # a burst of commands is planned for once
            self._replan.clear()
            try:
                await self.plan()
            except Exception:
                log.exception("planning the next meeting step failed")

    async def start(self) -> None:
        self.scheduler.start()
        await self.run_due()

    def stop(self) -> None:
        self.stopped = True
        self._replan.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def run_due(self) -> int:
        """Carry out every step due since the last check (at most a week back); plan the next wake-up."""
        now = self.clock.now()
        async with self.db.session() as session:
            checked = await repo.get_value(session, CHECKED_UNTIL)
            changes = await store.changes(session)
            if checked is None:  # a new deployment has missed nothing
                await repo.set_value(session, CHECKED_UNTIL, now.isoformat())
        since = max(datetime.fromisoformat(checked), now - LOOKBACK) if checked else now
        steps = due_steps(self.directory.settings.forums, changes, since, now, self.tz)
        for step in steps:
            await self.dispatch.run_internal(step.key, self._runner(step))
        async with self.db.session() as session:
            await repo.set_value(session, CHECKED_UNTIL, now.isoformat())
        await self.plan()
        return len(steps)

    def clock_moved(self) -> None:
        """The clock jumped (tests, the demo): APScheduler wakes at once and what is now due runs."""
        if self.scheduler.running and not self.stopped:
            self.scheduler.add_job(self.run_due, DateTrigger(run_date=datetime.now(UTC)), id=JOB_ID,
                                   replace_existing=True, misfire_grace_time=None, coalesce=True)

    async def plan(self) -> None:
        """(Re)schedule the single wake-up job for the next step."""
        async with self.db.session() as session:
            changes = await store.changes(session)
        upcoming = next_step(self.directory.settings.forums, changes, self.clock.now(), self.tz)
        if upcoming is None or not self.scheduler.running:
            return
        # The clock may run ahead of real time (tests, the demo): wake at the same distance from now.
        run_at = datetime.now(upcoming.tzinfo) + (upcoming - self.clock.now())
        self.scheduler.add_job(self.run_due, DateTrigger(run_date=run_at), id=JOB_ID, replace_existing=True,
                               misfire_grace_time=None, coalesce=True)
        log.debug("next meeting step %s", upcoming.isoformat())

    @staticmethod
    def _runner(step: Step) -> Callable[[Context], Awaitable[list[Outgoing]]]:
        async def run(ctx: Context) -> list[Outgoing]:
            return await run_step(ctx, step)

        return run
