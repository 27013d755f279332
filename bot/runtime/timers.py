"""Escalation, action reminders and chases, the time for answers to a joint message, and conferences
called for later: the database says what falls due when; this loop makes it happen.

Each due step runs through the dispatcher as internal work, so it commits together with its
messages and the new due time: after a crash it is either done or still due, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from bot.domain.clock import Clock
from bot.domain.schedule import OPEN, REMIND
from bot.flows import joint_messages as joint_message_flow
from bot.flows.convocation import CONFERENCE_REMIND, escalate
from bot.flows.meeting_steps import later_conference_step
from bot.flows.meetings import chase_action, remind_action
from bot.flows.sms import text_unanswered
from bot.flows.voice import call_unanswered
from bot.messages import Outgoing
from bot.runtime.dispatch import Dispatcher
from bot.state import convocations as store
from bot.state import joint_messages, meetings
from bot.state import voice as voice_store
from bot.state.db import Database
from bot.state.models import Summons

log = logging.getLogger(__name__)

IDLE_WAIT = 30.0  # seconds; also bounds how late a timer can be if the clock jumps
ACTION_NOTICE = timedelta(hours=1)
COALESCE = 0.5  # seconds  # an action's owner is reminded this long before it is due


class Timers:
    def __init__(self, db: Database, dispatch: Dispatcher, clock: Clock) -> None:
        self.db = db
        self.dispatch = dispatch
        self.clock = clock
        self.wake = asyncio.Event()
        self.stopped = False

    def notify(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        while not self.stopped:
            self.wake.clear()
            try:
                await self.fire_due()
                async with self.db.session() as session:
                    upcoming = await store.next_due(session)
            except Exception:
                log.exception("escalation timers failed; trying again in %.0f s", IDLE_WAIT)
                upcoming = None
            wait = IDLE_WAIT
            if upcoming is not None:
                wait = min(IDLE_WAIT, max(0.0, (upcoming - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
            await asyncio.sleep(COALESCE)  # a burst of commands wakes the timers once

    async def _step_by_convocation(self, name: str, summonses: Sequence[Summons], now: datetime,
                                   step: Callable[..., Awaitable[list[Outgoing]]]) -> None:
        """One channel's step (SMS, call) for the summonses due, one transaction per convocation: each summons's
        step clears its due time, so it runs once."""
        groups: dict[int, list[int]] = defaultdict(list)
        for summons in summonses:
            groups[summons.convocation_id].append(summons.id or 0)
        for convocation_id, ids in groups.items():
            await self.dispatch.run_internal(f"{name}:{convocation_id}:{ids[0]}:{now.isoformat()}",
                                             partial(step, summons_ids=ids))

    async def fire_due(self) -> int:
        """Run every escalation step that is due now; returns how many summonses moved."""
        now = self.clock.now()
        async with self.db.session() as session:
            due = await store.due(session, now)
        groups: dict[int, list[int]] = defaultdict(list)
        for summons in due:
            assert summons.id is not None
            groups[summons.convocation_id].append(summons.id)
        async with self.db.session() as session:
            actions = await meetings.actions_to_remind(session, now + ACTION_NOTICE)
            overdue = await meetings.actions_to_chase(session, now)
            unanswered = await joint_messages.past_due(session, now)
        for action in actions:
            await self.dispatch.run_internal(f"action-reminder:{action.id}",
                                             partial(remind_action, action_id=action.id or 0))
        for action in overdue:
            await self.dispatch.run_internal(f"action-chase:{action.id}",
                                             partial(chase_action, action_id=action.id or 0))
        for message in unanswered:
            await self.dispatch.run_internal(f"message-due:{message.id}",
                                             partial(joint_message_flow.time_is_up, message_id=message.id or 0))
        async with self.db.session() as session:
            later = await store.later_conferences(session, now, CONFERENCE_REMIND)
        for convocation in later:  # each starts within CONFERENCE_REMIND: remind; once begun: open
            assert convocation.id is not None
            step = OPEN if convocation.starts_at <= now else REMIND
            await self.dispatch.run_internal(f"conference-{step}:{convocation.id}",
                                             partial(later_conference_step, convocation_id=convocation.id, step=step))
        for convocation_id, ids in groups.items():
            await self.dispatch.run_internal(f"escalate:{convocation_id}:{ids[0]}:{now.isoformat()}",
                                             partial(escalate, convocation_id=convocation_id, summons_ids=ids))
        async with self.db.session() as session:
            to_text = await store.sms_due(session, now)
            to_call = await voice_store.call_due(session, now)
        await self._step_by_convocation("sms-step", to_text, now, text_unanswered)
        await self._step_by_convocation("call-step", to_call, now, call_unanswered)
        return len(due) + len(actions) + len(overdue) + len(unanswered) + len(to_text) + len(to_call)
