"""Forums formed for an event (!bilda): the rows, and the forum each one is while it lives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import Conference, Forum
from bot.state.models import FormedForum


async def add(session: AsyncSession, row: FormedForum) -> FormedForum:
    session.add(row)
    await session.flush()
    return row


async def everything(session: AsyncSession) -> Sequence[FormedForum]:
    """Every forum ever formed, the oldest first: those dissolved are still named in the record."""
    return (await session.exec(select(FormedForum).order_by(col(FormedForum.id)))).all()


async def living(session: AsyncSession, forum_id: str) -> FormedForum | None:
    """The formed forum with this id, if it has not been dissolved."""
    query = select(FormedForum).where(FormedForum.forum_id == forum_id, col(FormedForum.dissolved_at).is_(None))
    return (await session.exec(query)).first()


async def children(session: AsyncSession, parent_id: str) -> Sequence[FormedForum]:
    """The living forums formed by this forum."""
    query = (select(FormedForum).where(FormedForum.parent_id == parent_id, col(FormedForum.dissolved_at).is_(None))
             .order_by(col(FormedForum.id)))
    return (await session.exec(query)).all()


async def ids_taken(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(FormedForum.forum_id))).all())


def dissolve(session: AsyncSession, row: FormedForum, *, at: datetime, by: str) -> None:
    row.dissolved_at, row.dissolved_by = at, by
    session.add(row)


def as_forum(row: FormedForum) -> Forum:
    """The forum as the rest of the bot sees it: activated only, its room the one the bot creates, and its
    conference that room (Element X calls in the room; the link opens it)."""
    return Forum(id=row.forum_id, name=row.name, level=row.level, room=row.room,
                 chair=row.chair, activated=tuple(json.loads(row.functions)),
                 conference=Conference(url="https://matrix.to/#/" + quote(row.room, safe="#:")))
