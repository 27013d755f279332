"""What a command handler gets: the incoming message, the world, the clock and a session.

Handlers read and write state through `session` (one transaction that also holds the
outgoing messages) and return the messages to send; they never send anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

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
