"""The lease that lets exactly one process run the bot on a database (SQLite or PostgreSQL).

The holder renews it every few seconds; another process takes it over once it has not been
renewed for `ttl`, or at once when it was held by an earlier run of the same process slot
(the same host and pid: a restart) or by a process on this host that no longer exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state.models import LeaseRow

NAME = "bot"


@dataclass(frozen=True)
class Holder:
    id: str
    host: str
    pid: int


def _gone(row: LeaseRow, me: Holder) -> bool:
    """The holder was an earlier run in this slot, or a process on this host that has ended."""
    if row.host != me.host:
        return False
    if row.pid == me.pid:
        return True
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def acquire(session: AsyncSession, me: Holder, now: datetime, ttl: timedelta) -> LeaseRow | None:
    """Take the lease if it is free, ours, expired or left by a process that is gone. None when taken;
    otherwise the row of the instance that holds it. Raises LeaseTaken when another instance changed
    it in the same moment (compare and swap on the holder), so the caller tries again."""
    row = await session.get(LeaseRow, NAME)
    if row is None:
        session.add(LeaseRow(name=NAME, holder=me.id, host=me.host, pid=me.pid, since=now, renewed_at=now))
        try:
            await session.flush()
        except IntegrityError:  # another instance inserted it at the same moment
            raise LeaseTaken from None
        return None
    if row.holder != me.id and row.renewed_at > now - ttl and not _gone(row, me):
        return row
    taken = {} if row.holder == me.id else {"holder": me.id, "host": me.host, "pid": me.pid, "since": now}
    result = await session.exec(
        update(LeaseRow).where(col(LeaseRow.name) == NAME, col(LeaseRow.holder) == row.holder)
        .values(renewed_at=now, **taken).execution_options(synchronize_session=False))
    if not result.rowcount:
        raise LeaseTaken
    return None


async def renew(session: AsyncSession, me: Holder, now: datetime) -> bool:
    """Keep the lease; False if another instance has taken it."""
    result = await session.exec(
        update(LeaseRow).where(col(LeaseRow.name) == NAME, col(LeaseRow.holder) == me.id).values(renewed_at=now)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


async def release(session: AsyncSession, me: Holder) -> None:
    row = await session.get(LeaseRow, NAME)
    if row is not None and row.holder == me.id:
        await session.delete(row)


class LeaseTaken(Exception):
    """Another instance took the lease in the same moment; try again."""
