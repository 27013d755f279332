"""One running instance per database: the process that holds the lease runs the bot; another one
started by mistake (two containers) says so and waits as a standby, taking over within about ten
seconds of the first stopping or dying."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from bot.state import lease as store
from bot.state.db import Database
from bot.state.lease import Holder, LeaseTaken

log = logging.getLogger(__name__)

TTL = timedelta(seconds=10)  # not renewed for this long: the holder is taken to be gone
RENEW_EVERY = 3.0  # seconds
POLL_EVERY = 1.0  # seconds between a standby's tries


class LeaseLost(Exception):
    """Another instance took the lease over (this one was paused or cut off too long): stop."""


class Lease:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.me = Holder(uuid.uuid4().hex, socket.gethostname(), os.getpid())
        self.lost = asyncio.Event()
        self.stopped = False

    async def hold(self) -> None:
        """Until the lease is this process's: at once when nobody runs the bot, else as a standby."""
        told = False
        while True:
            try:
                other = await self.db.write(lambda s: store.acquire(s, self.me, datetime.now(UTC), TTL))
            except LeaseTaken:
                continue
            if other is None:
                log.info("this instance runs the bot (host %s, pid %d)", self.me.host, self.me.pid)
                return
            if not told:
                log.warning("another instance is running (host %s, pid %d, since %s); waiting as a standby, "
                            "to take over within %d s of it stopping", other.host, other.pid,
                            other.since.isoformat(timespec="seconds"), TTL.total_seconds() + POLL_EVERY)
                told = True
            await asyncio.sleep(POLL_EVERY)

    async def keep(self) -> None:
        """Renew the lease until stopped; if another instance has taken it, say so and set `lost`."""
        while not self.stopped:
            await asyncio.sleep(RENEW_EVERY)
            if self.stopped:
                return
            try:
                held = await self.db.write(lambda s: store.renew(s, self.me, datetime.now(UTC)))
            except Exception:
                log.warning("renewing the lease failed; trying again", exc_info=True)
                continue
            if not held:
                log.error("another instance has taken over the lease; this one stops")
                self.lost.set()
                return

    async def release(self) -> None:
        """Let a standby take over at once."""
        self.stopped = True
        await self.db.write(lambda s: store.release(s, self.me))
