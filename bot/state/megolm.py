"""The Megolm messages the bot has decrypted, kept so that a copy of a ciphertext sent again as a new event
(a replay) is refused after a restart as well: nio remembers them only in memory."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state.models import MegolmSeen

CLOSED = -1  # the index of the row that closes a session whose messages were pruned


async def first_event(session: AsyncSession, room_id: str, session_id: str, index: int) -> str | None:
    """The event that first carried this message (the session's closing mark "" once pruned); None if unseen."""
    rows = (await session.exec(select(MegolmSeen).where(
        MegolmSeen.room_id == room_id, MegolmSeen.session_id == session_id,
        col(MegolmSeen.message_index).in_([index, CLOSED])))).all()
    return rows[0].event_id if rows else None


async def note(session: AsyncSession, room_id: str, session_id: str, index: int, event_id: str,
               now: datetime) -> None:
    session.add(MegolmSeen(room_id=room_id, session_id=session_id, message_index=index, event_id=event_id,
                           seen_at=now))


async def prune(session: AsyncSession, before: datetime, now: datetime) -> int:
    """Forget the messages seen before `before`; each of their sessions is closed instead, so a message of a
    session that old is refused as a replay (clients start a new session at least weekly). Returns how many
    sessions were closed."""
    old = (await session.exec(select(MegolmSeen.room_id, MegolmSeen.session_id).where(
        col(MegolmSeen.seen_at) < before, col(MegolmSeen.message_index) != CLOSED).distinct())).all()
    if not old:
        return 0
    await session.exec(delete(MegolmSeen).where(
        col(MegolmSeen.seen_at) < before, col(MegolmSeen.message_index) != CLOSED))
    for room_id, session_id in old:
        if await session.get(MegolmSeen, (room_id, session_id, CLOSED)) is None:
            session.add(MegolmSeen(room_id=room_id, session_id=session_id, message_index=CLOSED, event_id="",
                                   seen_at=now))
    return len(old)
