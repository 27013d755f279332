"""The feeds' last good copies and how their polling goes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state.models import FeedCopy

WARNINGS = "warnings"  # SMHI's warnings
SCHEDULE = "schedule:"  # a function's duty schedule: "schedule:<function id>"
IMPORTED = "import:"  # the url of a stored schedule read from a file by `roster import`, not polled


def schedule(function_id: str) -> str:
    return SCHEDULE + function_id


async def get(session: AsyncSession, name: str) -> FeedCopy | None:
    return await session.get(FeedCopy, name)


async def good(session: AsyncSession, name: str, url: str, at: datetime, *, body: str | None = None,
               etag: str | None = None, last_modified: str | None = None, digest: str | None = None) -> FeedCopy:
    """A good answer: a new body (with its validators), or the same as before (body None)."""
    row = await session.get(FeedCopy, name) or FeedCopy(name=name, url=url)
    if body is not None or row.url != url:
        row.url, row.body, row.etag, row.last_modified, row.digest = url, body, etag, last_modified, digest
    row.good_at, row.failing_since, row.misses, row.fault = at, None, 0, None
    session.add(row)
    return row


async def fault(session: AsyncSession, name: str, url: str, at: datetime, why: str, *,
                answered: bool = True) -> FeedCopy:
    """A poll without a good answer: counted, the copy kept. `answered`: the feed answered, with something
    unusable, rather than not at all; once it has answered since the last good copy, the fault kept is the latest
    such answer, so that a later silence does not read as "has not answered since"."""
    row = await session.get(FeedCopy, name) or FeedCopy(name=name, url=url)
    fresh = row.failing_since is None
    row.failing_since = row.failing_since or at
    row.misses += 1
    if answered or fresh:
        row.fault = why[:300]
    session.add(row)
    return row


async def imported(session: AsyncSession) -> Sequence[FeedCopy]:
    """The schedules imported from files."""
    return (await session.exec(select(FeedCopy).where(col(FeedCopy.url).startswith(IMPORTED, autoescape=True)))).all()


async def failing_since(session: AsyncSession, prefix: str, before: datetime) -> Sequence[FeedCopy]:
    """The feeds named `prefix…` failing since before `before`."""
    return (await session.exec(select(FeedCopy).where(col(FeedCopy.name).startswith(prefix, autoescape=True),
                                                      col(FeedCopy.failing_since) < before))).all()


async def failing(session: AsyncSession, misses: int) -> Sequence[FeedCopy]:
    """The feeds that have missed at least `misses` polls in a row."""
    return (await session.exec(select(FeedCopy).where(col(FeedCopy.misses) >= misses)
                               .order_by(col(FeedCopy.name)))).all()
