"""What a command handler gets: the incoming message, the world, the clock and a session.

Handlers read and write state through `session` (one transaction that also holds the
outgoing messages) and return the messages to send; they never send anything themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Forum
from bot.domain.clock import Clock
from bot.domain.directory import Directory
from bot.messages import PRIORITY_REPLY, Incoming, Message
from bot.texts import t
from bot.texts.rich import Rich


@dataclass
class Context:
    incoming: Incoming
    session: AsyncSession
    directory: Directory
    clock: Clock
    lang: str
    rooms: Mapping[str, str] = field(default_factory=dict)  # room alias -> room id, as resolved

    def forum_here(self) -> Forum | None:
        """The forum whose room this command was sent in."""
        for forum in self.directory.settings.forums:
            if self.incoming.room_id in (forum.room, self.rooms.get(forum.room)):
                return forum
        return None

    def when(self, instant: datetime) -> str:
        """'21 nov 14:05' in local time."""
        local = instant.astimezone(self.tz)
        month = self.t("months").split()[local.month - 1]
        return f"{local.day} {month} {local:%H:%M}"

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
            priority=PRIORITY_REPLY,
        )
