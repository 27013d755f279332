"""Stand-ins: who took over a function with !tjänstgör, and until when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.roster import StandIn
from bot.state.models import StandInRow


def _domain(row: StandInRow) -> StandIn:
    until = row.until
    if row.released_at is not None and (until is None or row.released_at < until):
        until = row.released_at
    return StandIn(row.function_id, row.user_id, row.since, until)


async def stand_ins(session: AsyncSession, now: datetime) -> list[StandIn]:
    """Stand-ins in force now or later (ended ones are history)."""
    query = select(StandInRow).where(
        col(StandInRow.released_at).is_(None),
        or_(col(StandInRow.until).is_(None), col(StandInRow.until) > now),
    ).order_by(col(StandInRow.since))
    return [_domain(row) for row in (await session.exec(query)).all()]


async def take_over(session: AsyncSession, function_id: str, user_id: str, since: datetime,
                    until: datetime | None, set_by: str) -> StandInRow:
    """Start a stand-in; one already in force for the function ends now."""
    for row in await _open(session, function_id, since):
        row.released_at = since
        session.add(row)
    row = StandInRow(function_id=function_id, user_id=user_id, since=since, until=until, set_by=set_by)
    session.add(row)
    await session.flush()
    return row


async def release(session: AsyncSession, function_id: str, user_id: str | None, at: datetime) -> int:
    """End the stand-ins in force for a function (only `user_id`'s, if given); how many ended."""
    rows = [r for r in await _open(session, function_id, at) if user_id is None or r.user_id == user_id]
    for row in rows:
        row.released_at = at
        session.add(row)
    return len(rows)


async def _open(session: AsyncSession, function_id: str, now: datetime) -> Sequence[StandInRow]:
    query = select(StandInRow).where(
        StandInRow.function_id == function_id, col(StandInRow.released_at).is_(None),
        or_(col(StandInRow.until).is_(None), col(StandInRow.until) > now),
    )
    return (await session.exec(query)).all()
