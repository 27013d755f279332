"""Voice calls: the call outbox and the queries that keep each call once.

A call is picked to be dialled only in the query that also checks, at that moment, that its convocation
still stands (its activation in force, not older than a day) and that the person has not acknowledged it on
any channel, and that nobody is on the phone with that person already.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import voice as rules
from bot.state.models import Convocation, ForumStateRow, PhoneNumber, Summons, VoiceCall

RECENT = timedelta(hours=24)  # a convocation older than this is no longer rung for
TRUNK = "voice_trunk"  # bot_state: the SIP user agent's and trunk's state ("ok" | "down <since> <why>")


def _stands(now: datetime) -> Any:
    """The call's convocation still stands and the person has not acknowledged it: one SQL condition."""
    convocation = aliased(Convocation)
    state = aliased(ForumStateRow)
    unacknowledged = exists().where(
        col(Summons.convocation_id) == col(VoiceCall.convocation_id), col(Summons.ack_at).is_(None),
        col(Summons.holders).contains(literal('"') + col(VoiceCall.user_id) + literal('"')))
    in_force = exists().where(
        col(convocation.id) == col(VoiceCall.convocation_id), col(convocation.ended_at).is_(None),
        col(convocation.created_at) >= now - RECENT,
        or_(col(convocation.activation_id).is_(None),
            exists().where(col(state.forum_id) == col(convocation.forum_id),
                           col(state.activation_id) == col(convocation.activation_id))))
    return and_(unacknowledged, in_force)


def _line(call: Any) -> Any:
    """The call's line: the lookup hash of its person's number in the contacts store (two people who share a
    duty phone share a line), or the person when the store has no number for them."""
    phone = aliased(PhoneNumber)
    return func.coalesce(select(phone.lookup).where(col(phone.user_id) == col(call.user_id))
                         .correlate(call).scalar_subquery(), literal("user:") + col(call.user_id))


def _nobody_on_the_line() -> Any:
    """Nobody is on the phone with this call's person or number already."""
    other = aliased(VoiceCall)
    return ~exists().where(col(other.state).in_(rules.ACTIVE), col(other.id) != col(VoiceCall.id),
                           or_(col(other.user_id) == col(VoiceCall.user_id), _line(other) == _line(VoiceCall)))


def _wanted(now: datetime) -> Any:
    """A queued call the caller will dial once its time comes: the one condition `due` and `next_not_before`
    share (a row it would never pick must not keep the caller awake)."""
    return and_(col(VoiceCall.state) == rules.QUEUED, _stands(now), _nobody_on_the_line())


async def due(session: AsyncSession, now: datetime, limit: int) -> list[VoiceCall]:
    """Calls to dial now, oldest first: queued, their time come, the convocation standing, the person not
    acknowledged and not on a call of ours already (one person each)."""
    if limit <= 0:
        return []
    query = (select(VoiceCall, _line(VoiceCall)).where(_wanted(now), col(VoiceCall.not_before) <= now)
             .order_by(col(VoiceCall.not_before), col(VoiceCall.id)).limit(limit * 4))
    picked: list[VoiceCall] = []
    taken: set[str] = set()
    for row, line in (await session.exec(query)).all():
        if row.user_id not in taken and line not in taken:  # one call at a time to a person and to a number
            taken.update((row.user_id, line))
            picked.append(row)
    return picked[:limit]


async def standing(session: AsyncSession, call_ids: Sequence[int], now: datetime) -> set[int]:
    """Of these calls in progress, those still wanted (not ended by the bot, convocation standing, person not
    acknowledged): the rest are hung up."""
    if not call_ids:
        return set()
    query = select(VoiceCall.id).where(col(VoiceCall.id).in_(list(call_ids)), col(VoiceCall.state).in_(rules.ACTIVE),
                                       _stands(now))
    return {i for i in (await session.exec(query)).all() if i is not None}


async def next_not_before(session: AsyncSession, now: datetime) -> datetime | None:
    """When the next call `due` would pick falls due (None: none waits)."""
    query = select(func.min(VoiceCall.not_before)).where(_wanted(now))
    value: datetime | str | None = (await session.exec(query)).first()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value


async def dialling(session: AsyncSession, call_id: int, at: datetime) -> bool:
    """Written before the dial: queued -> dialling. False if it was taken or ended meanwhile."""
    result = await session.exec(update(VoiceCall).where(col(VoiceCall.id) == call_id,
                                                        col(VoiceCall.state) == rules.QUEUED)
                                .values(state=rules.DIALLING, dialled_at=at, dials=VoiceCall.dials + 1))
    return bool(result.rowcount)


async def answered(session: AsyncSession, call_id: int, at: datetime) -> None:
    await session.exec(update(VoiceCall).where(col(VoiceCall.id) == call_id,
                                               col(VoiceCall.state) == rules.DIALLING)
                       .values(state=rules.ANSWERED, answered_at=at))


async def end(session: AsyncSession, call_id: int, state: str, at: datetime, *, digit: str | None = None,
              error: str | None = None) -> VoiceCall | None:
    """A call's end, once: the row as it ended, or None if it had ended already."""
    row = await session.get(VoiceCall, call_id)
    if row is None or row.state in rules.ENDS:
        return None
    row.state, row.ended_at, row.digit = state, at, digit
    if error:
        row.last_error = error[:300]
    session.add(row)
    return row


async def after_crash(session: AsyncSession) -> int:
    """Calls the last run left in progress are dialled again (if they are still wanted when due): a crash
    repeats at most the call in progress."""
    result = await session.exec(update(VoiceCall).where(col(VoiceCall.state).in_(rules.ACTIVE))
                                .values(state=rules.QUEUED))
    return int(result.rowcount or 0)


async def cancel_steps(session: AsyncSession, refs: Sequence[str], people: Sequence[str] | None = None) -> int:
    """The calls of these convocations ("conv:N") not dialled yet are cancelled and those in progress marked to
    be hung up (`people`: only theirs); the convocation's end or a release calls this. Returns how many."""
    ids = [int(r.partition(":")[2]) for r in refs if r.startswith("conv:") and r.partition(":")[2].isdigit()]
    if not ids:
        return 0
    mine = [col(VoiceCall.convocation_id).in_(ids)]
    if people is not None:
        mine.append(col(VoiceCall.user_id).in_(list(people)))
    queued = await session.exec(update(VoiceCall).where(*mine, col(VoiceCall.state) == rules.QUEUED)
                                .values(state=rules.CANCELLED))
    active = await session.exec(update(VoiceCall).where(*mine, col(VoiceCall.state).in_(rules.ACTIVE))
                                .values(state=rules.HUNG_UP, last_error="the convocation ended"))
    return int(queued.rowcount or 0) + int(active.rowcount or 0)


async def cancel_unwanted(session: AsyncSession, convocation_ids: Sequence[int], at: datetime) -> int:
    """Queued calls of these convocations whose person has acknowledged (on any channel) or whose convocation
    no longer stands: cancelled, in the same transaction as the acknowledgement. Returns how many."""
    if not convocation_ids:
        return 0
    await session.flush()
    result = await session.exec(update(VoiceCall).where(
        col(VoiceCall.convocation_id).in_(list(convocation_ids)), col(VoiceCall.state) == rules.QUEUED,
        ~_stands(at)).values(state=rules.CANCELLED, ended_at=at).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


async def of_convocation(session: AsyncSession, convocation_id: int) -> list[VoiceCall]:
    query = select(VoiceCall).where(VoiceCall.convocation_id == convocation_id).order_by(col(VoiceCall.id))
    return list((await session.exec(query)).all())


async def existing(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    return set((await session.exec(select(VoiceCall.key).where(col(VoiceCall.key).in_(list(keys))))).all())


async def get(session: AsyncSession, call_id: int) -> VoiceCall | None:
    return await session.get(VoiceCall, call_id)


async def in_progress(session: AsyncSession) -> list[VoiceCall]:
    query = select(VoiceCall).where(col(VoiceCall.state).in_(rules.ACTIVE))
    return list((await session.exec(query)).all())


async def call_due(session: AsyncSession, now: datetime) -> Sequence[Summons]:
    """Unacknowledged summonses whose call step has fallen due, oldest first."""
    query = (select(Summons).where(col(Summons.call_due_at) <= now, col(Summons.ack_at).is_(None))
             .order_by(col(Summons.call_due_at), col(Summons.id)))
    return (await session.exec(query)).all()


async def backlog(session: AsyncSession) -> int:
    query = select(func.count()).select_from(VoiceCall).where(col(VoiceCall.state) == rules.QUEUED)
    return int((await session.exec(query)).one())


async def requeue(session: AsyncSession, call_id: int, now: datetime, error: str) -> timedelta | None:
    """The trunk did not take the call (not the number's fault): it waits and is dialled again, later each
    time (the wait read from the row's own count of dials). How long it waits; None if it had ended."""
    row = await session.get(VoiceCall, call_id)
    if row is None or row.state not in rules.ACTIVE:
        return None
    wait = rules.trunk_wait(row.dials)
    row.state, row.not_before, row.last_error = rules.QUEUED, now + wait, error[:300]
    session.add(row)
    return wait
