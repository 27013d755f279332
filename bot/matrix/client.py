"""The bot's Matrix connection, as the App uses it: a session (login, device, keys), rooms (joins,
direct rooms) and the sync loop, sharing one nio client. Only bot/matrix imports nio.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import Settings
from bot.matrix.rooms import Rooms
from bot.matrix.session import Session
from bot.matrix.sync import Handlers, Syncer
from bot.state.db import Database


class MatrixAdapter:
    def __init__(self, settings: Settings, db: Database, env: Mapping[str, str]) -> None:
        self.session = Session(settings, db, env)
        self.client = self.session.client
        self.rooms = Rooms(self.session, settings, db)
        self.sync = Syncer(self.session, self.rooms, db, settings.matrix.homeserver)

    @property
    def device_id(self) -> str:
        return self.session.device_id

    def listen(self, handlers: Handlers) -> None:
        """Where what arrives goes; set once, before the sync loop starts."""
        self.sync.handlers = handlers

    async def start(self) -> None:
        """Log in (keeping the device, cross-signing it), pick up where the last run stopped, join the rooms."""
        await self.session.login()
        await self.sync.load()
        await self.rooms.join_configured_rooms()

    def reconfigure(self, settings: Settings) -> None:
        """A reloaded configuration (the homeserver, the bot's id and the database never change in a reload)."""
        self.session.settings = self.rooms.settings = settings

    def stop(self) -> None:
        """Ends the loops even if a cancellation is lost."""
        self.sync.stopped = self.rooms.stopped = True

    async def close(self) -> None:
        await self.session.close()
