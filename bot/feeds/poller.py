"""Poll feeds on the bot's clock: every `every`, politely (conditional requests, `Retry-After`, backoff on
faults), keeping the last good copy. A fault is logged once per change of state and never rings anyone: the
last good copy stays what the bot knows."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.domain.clock import Clock
from bot.feeds.http import FeedFault, fetch, silent
from bot.state import feeds as store
from bot.state.db import Database

log = logging.getLogger(__name__)

IDLE_WAIT = 30.0  # seconds; also bounds how late a poll can be if the clock jumps
BACKOFF_CAP = 6  # a failing feed is polled at most every `every` × this


@dataclass
class Feed:
    """One feed: `parse` turns a body into domain values (FeedFault if it cannot); `deliver` gets them each time
    the body changed."""

    name: str
    url: str
    every: timedelta
    parse: Callable[[bytes], Any]
    deliver: Callable[[Any], Awaitable[None]]
    max_bytes: int = 20_000_000
    replay: bool = False  # at start, the stored copy is delivered before the first poll (a rota without network)
    next_at: datetime | None = None  # None: at once
    state: str = "new"  # what was last logged: "ok" or the fault
    misses: int = 0
    polls: int = 0


class Poller:
    def __init__(self, db: Database, clock: Clock, feeds: list[Feed]) -> None:
        self.db = db
        self.clock = clock
        self.feeds = feeds
        self.stopped = False
        self._wake = asyncio.Event()
        self.polled = asyncio.Condition()  # notified after each poll (tests wait on it)
        self.each_pass: Callable[[], Awaitable[None]] | None = None  # run on every wake-up, before polling

    def notify(self) -> None:
        self._wake.set()

    async def replay_stored(self) -> None:
        """Deliver the stored copy of each feed that asks for it, so the bot knows it before the network answers."""
        for feed in self.feeds:
            if not feed.replay:
                continue
            async with self.db.session() as session:
                copy = await store.get(session, feed.name)
            if copy is None or copy.body is None or copy.url != feed.url:
                continue
            try:
                await feed.deliver(feed.parse(copy.body.encode()))
            except FeedFault as exc:  # kept by a version that read less strictly: the first poll tells more
                log.warning("feed %s: the stored copy could not be read: %s", feed.name, exc.reason)
            except Exception:
                log.exception("feed %s: the stored copy could not be read", feed.name)

    async def run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while not self.stopped:
                self._wake.clear()
                if self.each_pass is not None:
                    try:
                        await self.each_pass()
                    except Exception:
                        log.exception("feeds: the periodic pass failed")
                for feed in self.feeds:
                    if self.stopped:
                        return
                    if feed.next_at is None or feed.next_at <= self.clock.now():
                        try:
                            await self.poll(http, feed)
                        except Exception:
                            log.exception("feed %s: polling failed", feed.name)
                            feed.next_at = self.clock.now() + feed.every
                upcoming = min((f.next_at for f in self.feeds if f.next_at is not None), default=None)
                wait = IDLE_WAIT if upcoming is None else \
                    min(IDLE_WAIT, max(0.05, (upcoming - self.clock.now()).total_seconds()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def poll(self, http: aiohttp.ClientSession, feed: Feed) -> None:
        """One poll: a changed body is parsed and delivered, then kept as the last good copy."""
        async with self.db.session() as session:
            copy = await store.get(session, feed.name)
        same_url = copy is not None and copy.url == feed.url
        etag = copy.etag if copy and same_url else None
        modified = copy.last_modified if copy and same_url else None
        try:
            answer = await fetch(http, feed.url, etag, modified, feed.max_bytes)
            digest = None if answer.body is None else hashlib.sha256(answer.body).hexdigest()
            if answer.body is not None and (digest != (copy.digest if copy and same_url else None)):
                values = feed.parse(answer.body)
                await feed.deliver(values)
                text = answer.body.decode("utf-8", errors="replace")
                await self.db.write(lambda s: store.good(s, feed.name, feed.url, self.clock.now(), body=text,
                                                         etag=answer.etag, last_modified=answer.last_modified,
                                                         digest=digest))
            else:
                await self.db.write(lambda s: store.good(s, feed.name, feed.url, self.clock.now()))
        except FeedFault as exc:
            await self._fault(feed, exc)
        else:
            if feed.state != "ok":
                log.info("feed %s: answering%s", feed.name, " again" if feed.state != "new" else "")
            feed.state, feed.misses = "ok", 0
            feed.next_at = self.clock.now() + feed.every
        await self._polled(feed)

    async def _fault(self, feed: Feed, exc: FeedFault) -> None:
        now = self.clock.now()
        feed.misses += 1
        if exc.reason != feed.state:
            log.warning("feed %s: %s; the last good copy stays", feed.name, exc.reason)
            feed.state = exc.reason
        pause = feed.every * min(2 ** (feed.misses - 1), BACKOFF_CAP)
        if exc.retry_after is not None:
            pause = max(pause, timedelta(seconds=exc.retry_after))
        feed.next_at = now + pause
        await self.db.write(lambda s: store.fault(s, feed.name, feed.url, now, exc.reason,
                                                  answered=not silent(exc.reason)))

    async def _polled(self, feed: Feed) -> None:
        feed.polls += 1
        async with self.polled:
            self.polled.notify_all()

    async def wait_polls(self, name: str, count: int, timeout: float = 20.0) -> None:
        """Until the feed `name` has been polled `count` times since the start (for tests and the demo)."""
        feed = next(f for f in self.feeds if f.name == name)

        async def enough() -> None:
            async with self.polled:
                await self.polled.wait_for(lambda: feed.polls >= count)

        await asyncio.wait_for(enough(), timeout)
