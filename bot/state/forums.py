"""Forum state, activation history and activation requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.forums import ACTIVATED, ORDINARY, ForumState
from bot.state.models import ActivationRequest, ActivationRow, ForumStateRow


async def forum_state(session: AsyncSession, forum_id: str) -> ForumState:
    row = await session.get(ForumStateRow, forum_id)
    if row is None:
        return ForumState(forum_id)
    return ForumState(forum_id=row.forum_id, mode=row.mode, event=row.event, description=row.description,
                      since=row.since, activated_by=row.activated_by,
                      activated_by_function=row.activated_by_function, chair=row.chair, exercise=row.exercise,
                      activation_id=row.activation_id)


async def _row(session: AsyncSession, forum_id: str) -> ForumStateRow:
    return await session.get(ForumStateRow, forum_id) or ForumStateRow(forum_id=forum_id)


async def activate(session: AsyncSession, forum_id: str, *, event: str, description: str | None, at: datetime,
                   by: str, by_function: str | None, request_id: int | None = None) -> ActivationRow:
    """Start an activation (ending one in progress) and put the forum in activated mode."""
    row = await _row(session, forum_id)
    if row.activation_id is not None:
        await _end(session, row.activation_id, at, by)
    activation = ActivationRow(forum_id=forum_id, event=event, description=description, started_at=at,
                               started_by=by, started_by_function=by_function, request_id=request_id,
                               exercise=row.exercise)
    session.add(activation)
    await session.flush()
    row.mode, row.event, row.description, row.since = ACTIVATED, event, description, at
    row.activated_by, row.activated_by_function, row.activation_id = by, by_function, activation.id
    session.add(row)
    return activation


async def deactivate(session: AsyncSession, forum_id: str, *, at: datetime, by: str) -> None:
    row = await _row(session, forum_id)
    if row.activation_id is not None:
        await _end(session, row.activation_id, at, by)
    row.mode, row.event, row.description, row.since = ORDINARY, None, None, at
    row.activated_by = row.activated_by_function = None
    row.activation_id = None
    row.chair = None  # the configured chair leads ordinary work
    session.add(row)


async def _end(session: AsyncSession, activation_id: int, at: datetime, by: str) -> None:
    activation = await session.get(ActivationRow, activation_id)
    if activation is not None and activation.ended_at is None:
        activation.ended_at, activation.ended_by = at, by
        session.add(activation)


async def set_exercise(session: AsyncSession, forum_id: str, on: bool) -> None:
    row = await _row(session, forum_id)
    row.exercise = on
    session.add(row)


async def history(session: AsyncSession, forum_id: str, limit: int = 5) -> Sequence[ActivationRow]:
    query = (select(ActivationRow).where(ActivationRow.forum_id == forum_id)
             .order_by(col(ActivationRow.id).desc()).limit(limit))
    return (await session.exec(query)).all()


async def add_request(session: AsyncSession, request: ActivationRequest) -> ActivationRequest:
    session.add(request)
    await session.flush()
    return request


async def pending_requests(session: AsyncSession, forum_id: str) -> Sequence[ActivationRequest]:
    query = (select(ActivationRequest)
             .where(ActivationRequest.forum_id == forum_id, ActivationRequest.status == "pending")
             .order_by(col(ActivationRequest.id)))
    return (await session.exec(query)).all()


async def get_request(session: AsyncSession, request_id: int) -> ActivationRequest | None:
    return await session.get(ActivationRequest, request_id)


async def answer_request(session: AsyncSession, request: ActivationRequest, *, status: str, by: str,
                         at: datetime, reason: str | None = None) -> None:
    request.status, request.answered_by, request.answered_at, request.reason = status, by, at, reason
    session.add(request)


async def set_chair(session: AsyncSession, forum_id: str, function_id: str) -> None:
    row = await _row(session, forum_id)
    row.chair = function_id
    session.add(row)


async def activations_of_event(session: AsyncSession, event: str) -> Sequence[ActivationRow]:
    """Every activation, of any forum, for an event (the name as written, case aside), oldest first."""
    query = (select(ActivationRow).where(func.lower(ActivationRow.event) == event.lower())
             .order_by(col(ActivationRow.started_at)))
    return (await session.exec(query)).all()
