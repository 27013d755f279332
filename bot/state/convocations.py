"""Convocations, the functions they summoned, acknowledgements, escalation timers, added functions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state import repo
from bot.state import sms as sms_store
from bot.state import voice as voice_store
from bot.state.models import AddedFunction, Convocation, KeyValue, OutboxMessage, Summons


def holders(summons: Summons) -> list[str]:
    return list(json.loads(summons.holders))


async def add(session: AsyncSession, convocation: Convocation) -> Convocation:
    session.add(convocation)
    await session.flush()
    return convocation


async def summon(session: AsyncSession, convocation_id: int, function_id: str, people: Sequence[str], at: datetime,
                 *, due_at: datetime | None, deputy_for: str | None = None, added: bool = False,
                 sms_due_at: datetime | None = None, call_due_at: datetime | None = None) -> Summons:
    row = Summons(convocation_id=convocation_id, function_id=function_id, holders=json.dumps(list(people)),
                  deputy_for=deputy_for, added=added, convened_at=at, due_at=due_at, sms_due_at=sms_due_at,
                  call_due_at=call_due_at)
    session.add(row)
    return row


async def get(session: AsyncSession, convocation_id: int) -> Convocation | None:
    return await session.get(Convocation, convocation_id)


async def latest(session: AsyncSession, forum_id: str) -> Convocation | None:
    query = (select(Convocation).where(Convocation.forum_id == forum_id)
             .order_by(col(Convocation.created_at).desc(), col(Convocation.id).desc()).limit(1))
    return (await session.exec(query)).first()


async def since(session: AsyncSession, after: datetime, forum_id: str | None = None) -> Sequence[Convocation]:
    """Convocations created after `after`, newest first."""
    query = select(Convocation).where(col(Convocation.created_at) >= after)
    if forum_id is not None:
        query = query.where(Convocation.forum_id == forum_id)
    return (await session.exec(query.order_by(col(Convocation.id).desc()))).all()


LATER = timedelta(minutes=10)  # a conference this much after its convocation is reminded and opened at its time


async def later_conferences(session: AsyncSession, now: datetime, ahead: timedelta) -> list[Convocation]:
    """Activations and extra convocations for a conference later than they were sent (`!aktivera … kl
    16:00`, `!kalla … 14:30`) that start within `ahead`, or started within the last hour (a bot down
    longer does not open a conference long begun)."""
    query = select(Convocation).where(col(Convocation.kind).in_(("activation", "extra")),
                                      col(Convocation.starts_at) <= now + ahead,
                                      col(Convocation.starts_at) >= now - timedelta(hours=1))
    return [c for c in (await session.exec(query)).all() if c.starts_at - c.created_at >= LATER]


async def summonses(session: AsyncSession, convocation_id: int) -> list[Summons]:
    query = select(Summons).where(Summons.convocation_id == convocation_id).order_by(col(Summons.id))
    return list((await session.exec(query)).all())


async def due(session: AsyncSession, now: datetime) -> Sequence[Summons]:
    """Unacknowledged summonses whose escalation step has fallen due, oldest first."""
    query = (select(Summons).where(col(Summons.due_at) <= now, col(Summons.ack_at).is_(None))
             .order_by(col(Summons.due_at), col(Summons.id)))
    return (await session.exec(query)).all()


async def by_ids(session: AsyncSession, summons_ids: Sequence[int]) -> list[Summons]:
    query = select(Summons).where(col(Summons.id).in_(list(summons_ids))).order_by(col(Summons.id))
    return list((await session.exec(query)).all())


async def sms_due(session: AsyncSession, now: datetime) -> Sequence[Summons]:
    """Unacknowledged summonses whose SMS step has fallen due, oldest first."""
    query = (select(Summons).where(col(Summons.sms_due_at) <= now, col(Summons.ack_at).is_(None))
             .order_by(col(Summons.sms_due_at), col(Summons.id)))
    return (await session.exec(query)).all()


async def next_due(session: AsyncSession) -> datetime | None:
    """When the next escalation, SMS or call step falls due."""
    found = []
    for column in (Summons.due_at, Summons.sms_due_at, Summons.call_due_at):
        value: datetime | str | None = (await session.exec(
            select(func.min(column)).where(col(Summons.ack_at).is_(None)))).first()
        if isinstance(value, str):  # SQLite gives an aggregate back without the column's type
            value = datetime.fromisoformat(value)
        if value is not None:
            found.append(value if value.tzinfo else value.replace(tzinfo=UTC))
    return min(found, default=None)


REACH = "reach:"  # key-value prefix: a person's direct room, joined or not, and the last event they read there
QUEUED, FAILED, SENT, UNOPENED, JOINED, READ = "queued", "failed", "sent", "unopened", "joined", "read"


async def note_reach(session: AsyncSession, user_id: str, joined: bool | None, read_event: str | None) -> None:
    """What the homeserver says of a person's direct room; None leaves what was known."""
    known = json.loads(await repo.get_value(session, REACH + user_id) or "{}")
    if joined is not None:
        known["joined"] = joined
    if read_event is not None:
        known["read"] = read_event
    await repo.set_value(session, REACH + user_id, json.dumps(known))


async def reach(session: AsyncSession, convocation_id: int) -> dict[str, str]:
    """Each person's direct message of a convocation: queued, failed, sent (the room's membership not
    known), unopened (invited, never joined), joined (in the room) or read. Three queries, however many."""
    query = select(OutboxMessage).where(OutboxMessage.ref == f"conv:{convocation_id}",
                                        col(OutboxMessage.target).startswith("user:"))
    rows = (await session.exec(query)).all()
    keys = {REACH + row.target.removeprefix("user:") for row in rows}
    stored = (await session.exec(select(KeyValue).where(col(KeyValue.key).in_(keys)))).all() if keys else []
    known = {kv.key.removeprefix(REACH): json.loads(kv.value) for kv in stored}
    read_events = {k["read"] for k in known.values() if k.get("read")}
    read_rows = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.event_id).in_(read_events))
                                    )).all() if read_events else []
    sent_at = {r.event_id: r.sent_at for r in read_rows if r.sent_at}
    found: dict[str, str] = {}
    for row in rows:
        user = row.target.removeprefix("user:")
        if row.failed or row.sent_at is None:
            found[user] = FAILED if row.failed else found.get(user, QUEUED)
            continue
        theirs = known.get(user, {})
        read_up_to = sent_at.get(theirs.get("read"))
        if read_up_to is not None and row.sent_at <= read_up_to:
            found[user] = READ
        elif found.get(user) != READ:
            joined = theirs.get("joined")
            found[user] = JOINED if joined else UNOPENED if joined is False else SENT
    return found


ORDINARY = 0  # the activation id under which an adapted composition in ordinary mode is kept (scene 2)


async def add_function(session: AsyncSession, forum_id: str, activation_id: int | None, function_id: str,
                       by: str, at: datetime) -> None:
    """A function called in to the forum: for this activation, or in ordinary mode until called out."""
    session.add(AddedFunction(forum_id=forum_id, activation_id=ORDINARY if activation_id is None else activation_id,
                              function_id=function_id, added_by=by, added_at=at))


async def remove_function(session: AsyncSession, forum_id: str, activation_id: int | None, function_id: str) -> None:
    """A function called out again (the audit trail keeps that it was in)."""
    for row in await _added(session, forum_id, activation_id):
        if row.function_id == function_id:
            await session.delete(row)


async def added_functions(session: AsyncSession, forum_id: str, activation_id: int | None) -> list[str]:
    """The adapted composition: functions called in for the activation (or in ordinary mode), in order."""
    return list(dict.fromkeys(row.function_id for row in await _added(session, forum_id, activation_id)))


async def _added(session: AsyncSession, forum_id: str, activation_id: int | None) -> Sequence[AddedFunction]:
    query = (select(AddedFunction).where(AddedFunction.forum_id == forum_id, AddedFunction.activation_id == (
        ORDINARY if activation_id is None else activation_id)).order_by(col(AddedFunction.id)))
    return (await session.exec(query)).all()


async def stop_escalations(session: AsyncSession, forum_id: str) -> int:
    """End the pending escalation steps of a forum's convocations (superseded or deactivated)."""
    query = (select(Summons).join(Convocation, col(Convocation.id) == col(Summons.convocation_id))
             .where(Convocation.forum_id == forum_id, col(Summons.due_at).is_not(None)))
    rows = (await session.exec(query)).all()
    for row in rows:
        row.due_at = None
        session.add(row)
    return len(rows)


# ---- the end of a convocation: none of its steps is delivered after it ----

CancelSteps = Callable[[AsyncSession, Sequence[str], Sequence[str] | None], Awaitable[int]]
# Each channel's pending steps, by the convocation's ref ("conv:N") and, for a release, only the steps of
# these people: the Matrix outbox (room pings, direct messages, reminders), the SMS outbox and the voice calls
# (those in progress are hung up). A new channel adds its own `cancel_steps` here and checks `ended_refs`, or
# that the convocation has no `ended_at`, before it delivers.
PENDING_STEPS: tuple[CancelSteps, ...] = (repo.cancel_steps, sms_store.cancel_steps, voice_store.cancel_steps)


async def end(session: AsyncSession, convocations: Sequence[Convocation], at: datetime, why: str) -> list[Convocation]:
    """End these convocations (`why`: deactivated | replaced | cancelled | moved) in the caller's transaction:
    their escalation and SMS timers stop and every step of them not yet delivered, on every channel, is
    cancelled. Returns those that stood until now."""
    ended = [c for c in convocations if c.ended_at is None]
    if not ended:
        return []
    ids = [c.id for c in ended if c.id is not None]
    for convocation in ended:
        convocation.ended_at, convocation.ended_why = at, why
        session.add(convocation)
    for summons in (await session.exec(select(Summons).where(col(Summons.convocation_id).in_(ids)))).all():
        if summons.due_at is not None or summons.sms_due_at is not None or summons.call_due_at is not None:
            summons.due_at = summons.sms_due_at = summons.call_due_at = None
            session.add(summons)
    refs = [f"conv:{i}" for i in ids]
    for cancel in PENDING_STEPS:
        await cancel(session, refs, None)
    return ended


async def release(session: AsyncSession, convocation: Convocation, function_ids: Sequence[str],
                  people: Sequence[str]) -> None:
    """Functions called out of a standing convocation: the steps still pending for `people` (their holders)
    are cancelled, as `end` does for a whole convocation, and their unanswered summonses go (called in again,
    they are convened anew; an answer given stays on record)."""
    assert convocation.id is not None
    for summons in await summonses(session, convocation.id):
        if summons.function_id in function_ids:
            if summons.ack_at is None:
                await session.delete(summons)
            else:
                summons.due_at = summons.sms_due_at = summons.call_due_at = None
                session.add(summons)
    for cancel in PENDING_STEPS:
        await cancel(session, [f"conv:{convocation.id}"], people)


async def standing(session: AsyncSession, forum_id: str, *, activation_id: int | None = None,
                   starts_by: datetime | None = None) -> list[Convocation]:
    """A forum's convocations that still stand: of one activation, or for a conference at `starts_by` or
    earlier."""
    query = select(Convocation).where(Convocation.forum_id == forum_id, col(Convocation.ended_at).is_(None))
    if activation_id is not None:
        query = query.where(Convocation.activation_id == activation_id)
    if starts_by is not None:
        query = query.where(col(Convocation.starts_at) <= starts_by)
    return list((await session.exec(query.order_by(col(Convocation.id)))).all())


async def ended_refs(session: AsyncSession, refs: Sequence[str]) -> set[str]:
    """Which of these refs ("conv:N") name a convocation that has ended: checked by a channel before it
    delivers, so a step that slipped past `end` is still not delivered."""
    ids = {int(r.partition(":")[2]) for r in refs if r.startswith("conv:") and r.partition(":")[2].isdigit()}
    if not ids:
        return set()
    query = select(Convocation.id).where(col(Convocation.id).in_(ids), col(Convocation.ended_at).is_not(None))
    return {f"conv:{i}" for i in (await session.exec(query)).all()}


async def of_activations(session: AsyncSession, activation_ids: Sequence[int]) -> Sequence[Convocation]:
    query = (select(Convocation).where(col(Convocation.activation_id).in_(activation_ids))
             .order_by(col(Convocation.created_at)))
    return (await session.exec(query)).all()


async def planned(session: AsyncSession, forum_id: str, activation_id: int | None, after: datetime) -> bool:
    """Whether a conference of this activation is already called for a time after `after`."""
    query = select(Convocation.id).where(Convocation.forum_id == forum_id, Convocation.activation_id == activation_id,
                                         col(Convocation.starts_at) > after).limit(1)
    return (await session.exec(query)).first() is not None
