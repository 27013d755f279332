"""Links to a forum's board for wall screens: created, listed, revoked, and checked by the hash of their secret."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state.models import BoardLink


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def add_link(session: AsyncSession, link: BoardLink) -> BoardLink:
    session.add(link)
    await session.flush()
    return link


async def links(session: AsyncSession, forum_id: str, now: datetime) -> Sequence[BoardLink]:
    """The forum's links still valid, oldest first."""
    return (await session.exec(select(BoardLink).where(BoardLink.forum_id == forum_id,
                                                       col(BoardLink.revoked_at).is_(None),
                                                       col(BoardLink.expires_at) > now)
                               .order_by(col(BoardLink.id)))).all()


async def made_by(session: AsyncSession, forum_id: str, user_id: str, now: datetime) -> Sequence[BoardLink]:
    """The forum's links still valid that this person made, oldest first."""
    return [link for link in await links(session, forum_id, now) if link.created_by == user_id]


async def get(session: AsyncSession, link_id: int) -> BoardLink | None:
    return await session.get(BoardLink, link_id)


async def valid(session: AsyncSession, secret: str, now: datetime) -> BoardLink | None:
    """The link with this secret if it is neither expired nor revoked."""
    link = (await session.exec(select(BoardLink).where(BoardLink.secret_hash == digest(secret)))).first()
    return link if in_force(link, now) else None


def in_force(link: BoardLink | None, now: datetime) -> bool:
    """Neither expired nor revoked."""
    return link is not None and link.revoked_at is None and link.expires_at > now
