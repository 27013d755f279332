"""What a command handler gets: the incoming message, the world, the clock and a session.

Handlers read and write state through `session` (one transaction that also holds the
outgoing messages) and return the messages to send; they never send anything themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Reloaded
from bot.domain.clock import Clock
from bot.domain.directory import Directory
from bot.domain.forums import Authority, ForumState, authority
from bot.domain.model import Forum, Function
from bot.domain.roster import Roster, StandIn
from bot.domain.rota import Schedule
from bot.domain.timeparse import TIME_EXAMPLES, parse_when
from bot.flows.errors import BadArgument, NotAllowed
from bot.messages import PRIORITY_ANSWER, Incoming, Message
from bot.state import roster as roster_store
from bot.state.vault import Vault
from bot.texts import t
from bot.texts.rich import Rich


@dataclass(frozen=True)
class StandInsRead:
    """The stand-ins in force or to come as read at `at`. Kept from one command to the next until a
    transaction writes the table; `Roster` checks each one's time, so one that has ended meanwhile counts
    for nothing."""

    at: datetime
    stand_ins: list[StandIn]


@dataclass
class Context:
    incoming: Incoming
    session: AsyncSession
    directory: Directory
    clock: Clock
    lang: str
    rooms: Mapping[str, str] = field(default_factory=dict)  # room alias -> room id, as resolved
    reload: Callable[[], Awaitable[Reloaded]] | None = None  # read the configuration file again
    bot_user: str = ""  # the bot's own Matrix id
    known_stand_ins: StandInsRead | None = None  # as read by an earlier command, or by this one
    vault: Vault | None = None  # seals what the bot keeps of people (phone numbers)
    schedules: Mapping[str, Schedule] = field(default_factory=dict)  # the duty schedules read from feeds
    _roster: Roster | None = None
    committed: list[Callable[[], None]] = field(default_factory=list)  # run once the transaction has committed

    async def roster(self, fresh: bool = False) -> Roster:
        """The roster with the stand-ins in force (read again if `fresh`, e.g. after this command wrote one)."""
        if self._roster is None or fresh:
            now, known = self.clock.now(), self.known_stand_ins
            if fresh or known is None or now < known.at:  # a clock set back may bring back one that had ended
                known = self.known_stand_ins = StandInsRead(now, await roster_store.stand_ins(self.session, now))
            self._roster = Roster(self.directory, known.stand_ins, self.tz, self.schedules)
        return self._roster

    async def held(self) -> list[Function]:
        """The functions the sender may act for now: listed for, or standing in for."""
        return (await self.roster()).functions_of(self.sender, self.clock.now())

    async def authority(self, forum: Forum, state: ForumState) -> Authority:
        return authority(await self.held(), forum, state)

    async def convener_or_chair(self, forum: Forum, state: ForumState, refusal: str, action: str) -> Function:
        """The sender's convener or chair function in the forum; refused (and audited) without one."""
        who = await self.authority(forum, state)
        function = who.convener or who.chair
        if function is None:
            raise NotAllowed(refusal, action=action, forum_id=forum.id, forum=forum.name)
        return function

    async def is_known(self) -> bool:
        return self.directory.is_admin(self.sender) or bool(await self.held())

    def forum_here(self) -> Forum | None:
        """The forum whose room this command was sent in."""
        for forum in self.directory.settings.forums:
            if self.incoming.room_id in (forum.room, self.rooms.get(forum.room)):
                return forum
        return None

    def when(self, instant: datetime, *, year: bool = False, within_week: bool = False) -> str:
        """'lör 21 nov 14:05' in local time; with the year when asked (a record) or not this year's; 'lör 14:05'
        (`within_week`) for a time less than six days away, where the weekday says which."""
        local = instant.astimezone(self.tz)
        day = self.t("weekdays").split()[local.weekday()]
        if within_week and abs((instant - self.clock.now()).days) < 6:
            return f"{day} {local:%H:%M}"
        month = self.t("months").split()[local.month - 1]
        shown = f" {local.year}" if year or local.year != self.clock.now().astimezone(self.tz).year else ""
        return f"{day} {local.day} {month}{shown} {local:%H:%M}"

    def time_to_come(self, text: str, unreadable: str) -> datetime:
        """A time the user wrote that is still to come; otherwise a sentence (`unreadable`, or that it has passed)."""
        try:
            instant = parse_when(text, self.clock.now(), self.tz)
        except ValueError:
            raise BadArgument(unreadable, examples=TIME_EXAMPLES) from None
        if instant <= self.clock.now():
            raise BadArgument("kalla.past", when=self.when(instant), examples=TIME_EXAMPLES)
        return instant

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.directory.settings.bot.timezone)

    @property
    def sender(self) -> str:
        return self.incoming.sender

    def t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)

    def reply(self, rich: Rich) -> Message:
        """A quiet notice in reply to the command, in the room it came from."""
        return Message(
            target=self.incoming.room_id,
            body=rich.plain,
            html=rich.html,
            reply_to=self.incoming.event_id,
            thread_root=self.incoming.thread_root,
            priority=PRIORITY_ANSWER,
        )
