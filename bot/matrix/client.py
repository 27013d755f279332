"""The bot's Matrix connection, as the App uses it: a session (login, device, keys), rooms (joins,
direct rooms) and the sync loop, sharing one nio client. Only bot/matrix imports nio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import aiohttp

from bot.config import Settings
from bot.matrix.rooms import Rooms
from bot.matrix.session import Session
from bot.matrix.sync import BACKOFF_CAP, BACKOFF_START, NOT_READY, Handlers, Syncer
from bot.state import repo
from bot.state.db import Database

log = logging.getLogger(__name__)


class MatrixAdapter:
    def __init__(self, settings: Settings, db: Database, env: Mapping[str, str]) -> None:
        self.db = db
        self.homeserver = settings.matrix.homeserver
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
        """Log in (keeping the device, cross-signing it), pick up where the last run stopped, join the rooms.

        A homeserver that does not answer is waited for, with capped backoff, rather than a crash
        that makes the container restart in a loop; why the bot is not ready is kept for `health`.
        """
        wait = BACKOFF_START
        while True:
            try:
                await self.session.login()
                break
            except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                reason = f"homeserver {self.homeserver} does not answer ({type(exc).__name__}: {exc})"
                if wait == BACKOFF_START:
                    log.error("%s; trying again with backoff up to %.0f s", reason, BACKOFF_CAP)
                note = f"{datetime.now(UTC).isoformat()} {reason}"
                await self.db.write(lambda s, note=note: repo.set_value(s, NOT_READY, note))  # type: ignore[misc]
                await asyncio.sleep(wait)
                wait = min(wait * 2, BACKOFF_CAP)
        if wait != BACKOFF_START:
            log.info("homeserver %s answers again", self.homeserver)
        await self.db.write(lambda s: repo.delete_value(s, NOT_READY))
        await self.sync.load()
        await self.rooms.load()
        await self.rooms.load_moves()
        await self.rooms.join_configured_rooms()

    def reconfigure(self, settings: Settings, formed_rooms: Iterable[str] = ()) -> None:
        """A reloaded configuration (the homeserver, the bot's id and the database never change in a reload), or
        forums formed or dissolved: `formed_rooms` are the aliases of rooms to create when first needed."""
        self.session.settings = self.rooms.settings = settings
        self.rooms.formed_rooms = set(formed_rooms)

    def stop(self) -> None:
        """Ends the loops even if a cancellation is lost."""
        self.sync.stopped = self.rooms.stopped = True

    async def close(self) -> None:
        await self.sync.settle()
        await self.rooms.settle()
        await self.session.close()
