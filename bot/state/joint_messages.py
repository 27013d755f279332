"""Joint messages (gemensamt budskap), their versions and the organisations' answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state.models import JointMessage, JointMessageAnswer, JointMessageVersion


async def add(session: AsyncSession, message: JointMessage, text: str) -> JointMessage:
    """A new joint message with its first version."""
    session.add(message)
    await session.flush()
    assert message.id is not None
    session.add(JointMessageVersion(message_id=message.id, version=1, text=text, author=message.author,
                                    at=message.created_at))
    return message


async def get(session: AsyncSession, message_id: int) -> JointMessage | None:
    return await session.get(JointMessage, message_id)


async def versions(session: AsyncSession, message_id: int) -> Sequence[JointMessageVersion]:
    query = (select(JointMessageVersion).where(JointMessageVersion.message_id == message_id)
             .order_by(col(JointMessageVersion.version)))
    return (await session.exec(query)).all()


async def revise(session: AsyncSession, message: JointMessage, text: str, author: str, at: datetime) -> int:
    """A new version, which is now the one asked for; returns its number."""
    assert message.id is not None
    message.version += 1
    session.add(message)
    session.add(JointMessageVersion(message_id=message.id, version=message.version, text=text, author=author, at=at))
    return message.version


async def answers(session: AsyncSession, message_id: int) -> Sequence[JointMessageAnswer]:
    """Every answer to every version, oldest first."""
    query = (select(JointMessageAnswer).where(JointMessageAnswer.message_id == message_id)
             .order_by(col(JointMessageAnswer.id)))
    return (await session.exec(query)).all()


async def of_activations(session: AsyncSession, activation_ids: Sequence[int]) -> Sequence[JointMessage]:
    query = (select(JointMessage).where(col(JointMessage.activation_id).in_(activation_ids))
             .order_by(col(JointMessage.id)))
    return (await session.exec(query)).all()


async def not_fixed(session: AsyncSession) -> Sequence[JointMessage]:
    query = select(JointMessage).where(col(JointMessage.fixed_at).is_(None)).order_by(col(JointMessage.id))
    return (await session.exec(query)).all()


async def past_due(session: AsyncSession, now: datetime) -> Sequence[JointMessage]:
    """Messages not fixed whose time for answers has passed and whose author has not been told yet."""
    query = select(JointMessage).where(col(JointMessage.fixed_at).is_(None), col(JointMessage.due_told_at).is_(None),
                                       col(JointMessage.due_at).is_not(None), col(JointMessage.due_at) <= now)
    return (await session.exec(query)).all()
