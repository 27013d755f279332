"""The second channel's tables: numbers (sealed, found by their lookup), codes, and the SMS outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state.models import PhoneNumber, SmsCode, SmsMessage

QUEUED, ACCEPTED, DELIVERED, FAILED = "queued", "accepted", "delivered", "failed"
SENDING = "sending"  # claimed by the sender for its sendsms call: the gateway may have it; no longer cancelled
CANCELLED = "cancelled"  # never sent: its convocation ended (or its person was called out) before it went
GATEWAY = "sms:gateway"  # bot_state: "ok", or "down <since> <why>", as the sender last found the gateway

# ---- numbers ----


async def number_of(session: AsyncSession, user_id: str) -> PhoneNumber | None:
    return await session.get(PhoneNumber, user_id)


async def numbers_of(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, PhoneNumber]:
    if not user_ids:
        return {}
    rows = (await session.exec(select(PhoneNumber).where(col(PhoneNumber.user_id).in_(list(user_ids))))).all()
    return {row.user_id: row for row in rows}


async def owner(session: AsyncSession, lookup: str) -> PhoneNumber | None:
    """Whose number this is (the one who registered it last, if two have)."""
    query = select(PhoneNumber).where(PhoneNumber.lookup == lookup).order_by(col(PhoneNumber.confirmed_at).desc())
    return (await session.exec(query)).first()


async def set_number(session: AsyncSession, user_id: str, number: str, lookup: str, source: str,
                     at: datetime) -> None:
    row = await session.get(PhoneNumber, user_id)
    if row is None:
        row = PhoneNumber(user_id=user_id, number=number, lookup=lookup, source=source, confirmed_at=at)
    else:
        row.number, row.lookup, row.source, row.confirmed_at = number, lookup, source, at
    session.add(row)


async def remove_number(session: AsyncSession, user_id: str) -> bool:
    row = await session.get(PhoneNumber, user_id)
    if row is None:
        return False
    await session.delete(row)
    return True


async def numbers_from(session: AsyncSession, source: str) -> dict[str, PhoneNumber]:
    rows = (await session.exec(select(PhoneNumber).where(PhoneNumber.source == source))).all()
    return {row.user_id: row for row in rows}


async def sync_contacts(session: AsyncSession, contacts: dict[str, tuple[str, str]], at: datetime) -> None:
    """The contacts file's numbers ({user: (sealed, lookup)}): added or changed, and those no longer in the
    file removed. A number a person registered themselves is theirs and stays."""
    mine = await numbers_from(session, "contacts")
    registered = set((await numbers_of(session, list(contacts))).keys()) - set(mine)
    for user, (number, lookup) in contacts.items():
        if user in registered:
            continue
        if user not in mine or mine[user].lookup != lookup:
            await set_number(session, user, number, lookup, "contacts", at)
    for user, row in mine.items():
        if user not in contacts:
            await session.delete(row)


# ---- codes ----


async def code_of(session: AsyncSession, user_id: str) -> SmsCode | None:
    return await session.get(SmsCode, user_id)


async def put_code(session: AsyncSession, code: SmsCode) -> None:
    old = await session.get(SmsCode, code.user_id)
    if old is not None:
        await session.delete(old)
        await session.flush()
    session.add(code)


async def drop_code(session: AsyncSession, user_id: str) -> None:
    row = await session.get(SmsCode, user_id)
    if row is not None:
        await session.delete(row)


# ---- the outbox ----


async def existing(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these keys have an SMS already."""
    if not keys:
        return set()
    return set((await session.exec(select(SmsMessage.key).where(col(SmsMessage.key).in_(list(keys))))).all())


async def count(session: AsyncSession, *, event_key: str | None = None, user_id: str | None = None,
                kind: str | None = None, since: datetime | None = None) -> int:
    query = select(func.count()).select_from(SmsMessage)
    if event_key is not None:
        query = query.where(SmsMessage.event_key == event_key)
    if user_id is not None:
        query = query.where(SmsMessage.user_id == user_id)
    if kind is not None:
        query = query.where(SmsMessage.kind == kind)
    if since is not None:
        query = query.where(col(SmsMessage.created_at) >= since)
    return int((await session.exec(query)).one())


async def of_ref(session: AsyncSession, ref: str) -> list[SmsMessage]:
    """The SMS of one convocation, oldest first."""
    query = select(SmsMessage).where(SmsMessage.ref == ref).order_by(col(SmsMessage.id))
    return list((await session.exec(query)).all())


async def latest_to(session: AsyncSession, lookup: str, kind: str) -> SmsMessage | None:
    """The latest SMS of a kind sent to a number: a reply answers it."""
    query = (select(SmsMessage).where(SmsMessage.lookup == lookup, SmsMessage.kind == kind)
             .order_by(col(SmsMessage.id).desc()).limit(1))
    return (await session.exec(query)).first()


async def texted_since(session: AsyncSession, lookups: Sequence[str], since: datetime) -> set[str]:
    """Which of these numbers were sent a convocation since `since` (one query, however many)."""
    if not lookups:
        return set()
    query = select(SmsMessage.lookup).where(col(SmsMessage.lookup).in_(list(lookups)),
                                            col(SmsMessage.kind) == "convocation", col(SmsMessage.state) != CANCELLED,
                                            col(SmsMessage.created_at) >= since).distinct()
    return set((await session.exec(query)).all())


async def convocations_to(session: AsyncSession, lookup: str, since: datetime) -> list[SmsMessage]:
    """The convocation SMS written to a number since `since` and not cancelled, newest first."""
    query = (select(SmsMessage).where(SmsMessage.lookup == lookup, col(SmsMessage.kind) == "convocation",
                                      col(SmsMessage.state) != CANCELLED, col(SmsMessage.created_at) >= since)
             .order_by(col(SmsMessage.id).desc()))
    return list((await session.exec(query)).all())


async def due(session: AsyncSession, now: datetime, limit: int) -> Sequence[SmsMessage]:
    query = (select(SmsMessage).where(SmsMessage.state == QUEUED, col(SmsMessage.not_before) <= now)
             .order_by(col(SmsMessage.id)).limit(limit))
    return (await session.exec(query)).all()


async def next_not_before(session: AsyncSession) -> datetime | None:
    query = select(func.min(SmsMessage.not_before)).where(SmsMessage.state == QUEUED)
    value: datetime | None = (await session.exec(query)).first()  # the column's type: aware, on both backends
    return value


async def cancel_steps(session: AsyncSession, refs: Sequence[str], people: Sequence[str] | None = None) -> int:
    """The SMS of these convocations not handed to the gateway yet are not sent (`people`: only theirs)."""
    if not refs:
        return 0
    query = update(SmsMessage).where(col(SmsMessage.ref).in_(list(refs)), col(SmsMessage.state) == QUEUED,
                                     col(SmsMessage.kind) == "convocation")
    if people is not None:
        query = query.where(col(SmsMessage.user_id).in_(list(people)))
    result = await session.exec(query.values(state=CANCELLED))
    return int(result.rowcount or 0)


TEXTED = (SENDING, ACCEPTED, DELIVERED)  # the gateway took the SMS, or has it in hand now


async def texted(session: AsyncSession, ref: str) -> list[SmsMessage]:
    """The convocation SMS of one convocation that the gateway took or has in hand: those who got it by SMS
    (one being sent as the convocation ends is told it ended; the sender drops that notice if the gateway
    then does not take the convocation's SMS after all)."""
    query = (select(SmsMessage).where(SmsMessage.ref == ref, SmsMessage.kind == "convocation",
                                      col(SmsMessage.state).in_(TEXTED))
             .order_by(col(SmsMessage.id)))
    return list((await session.exec(query)).all())


async def claim(session: AsyncSession, sms_id: int) -> bool:
    """Take a queued SMS for its sendsms call, in one conditional statement: False when it is no longer
    queued (its convocation ended, or its person was called out, since it was read). A claimed SMS is not
    cancelled by the end; it counts as texted."""
    result = await session.exec(update(SmsMessage).where(col(SmsMessage.id) == sms_id,
                                                         col(SmsMessage.state) == QUEUED).values(state=SENDING))
    return int(result.rowcount or 0) == 1


async def unclaim(session: AsyncSession, sms_id: int) -> None:
    """The gateway did not answer: the SMS waits again (and is cancelled if its convocation ends)."""
    await session.exec(update(SmsMessage).where(col(SmsMessage.id) == sms_id, col(SmsMessage.state) == SENDING)
                       .values(state=QUEUED))


async def recover(session: AsyncSession, ended: set[str]) -> int:
    """At start: SMS left claimed by a crash may or may not have been taken by the gateway. One whose
    convocation still stands is sent again (a crash can text a person twice, never more); one whose
    convocation has ended (refs in `ended`) counts as taken, so the notice that it ended goes."""
    rows = (await session.exec(select(SmsMessage).where(SmsMessage.state == SENDING))).all()
    for row in rows:
        row.state = ACCEPTED if row.ref in ended else QUEUED
        session.add(row)
    return len(rows)


async def sending_refs(session: AsyncSession) -> list[str]:
    query = select(SmsMessage.ref).where(SmsMessage.state == SENDING, col(SmsMessage.ref).is_not(None)).distinct()
    return [r for r in (await session.exec(query)).all() if r is not None]


async def unfounded_notices(session: AsyncSession, rows: Sequence[SmsMessage]) -> list[int]:
    """Of these SMS, the notices (ended, moved, released) to a person whose convocation SMS the gateway did not
    take after all: never sent, nobody is told of a convocation they were not texted."""
    notices = [r for r in rows if r.kind == "notice" and r.ref and r.user_id]
    if not notices:
        return []
    query = select(SmsMessage.ref, SmsMessage.user_id).where(
        col(SmsMessage.ref).in_({r.ref for r in notices}), SmsMessage.kind == "convocation",
        col(SmsMessage.state).in_(TEXTED))
    founded = set((await session.exec(query)).all())
    return [r.id for r in notices if r.id is not None and (r.ref, r.user_id) not in founded]


async def drop(session: AsyncSession, sms_ids: Sequence[int]) -> None:
    """Queued SMS that are not to be sent after all."""
    if sms_ids:
        await session.exec(update(SmsMessage).where(col(SmsMessage.id).in_(list(sms_ids)),
                                                    col(SmsMessage.state) == QUEUED).values(state=CANCELLED))


async def backlog(session: AsyncSession) -> int:
    query = select(func.count()).select_from(SmsMessage).where(SmsMessage.state == QUEUED)
    return int((await session.exec(query)).one())


async def mark(session: AsyncSession, sms_id: int, state: str, at: datetime, error: str | None = None) -> None:
    """What the gateway says of an SMS, in one statement. A report never takes a delivered SMS back, and a
    late 'accepted' never hides a delivery or a failure."""
    allowed = {ACCEPTED: [QUEUED, SENDING], DELIVERED: [QUEUED, SENDING, ACCEPTED, FAILED],
               FAILED: [QUEUED, SENDING, ACCEPTED]}[state]
    values: dict[str, object] = {"state": state, {ACCEPTED: "accepted_at", DELIVERED: "delivered_at",
                                                  FAILED: "failed_at"}[state]: at}
    if state == FAILED:
        values["last_error"] = (error or "")[:300]
    await session.exec(update(SmsMessage).where(col(SmsMessage.id) == sms_id, col(SmsMessage.state).in_(allowed))
                       .values(**values))


async def retry(session: AsyncSession, sms_id: int, not_before: datetime, error: str, *, give_up: bool) -> None:
    row = await session.get(SmsMessage, sms_id)
    if row is not None:
        row.attempts += 1
        row.not_before, row.last_error = not_before, error[:300]
        row.state = QUEUED if row.state == SENDING else row.state
        if give_up:
            row.state, row.failed_at = FAILED, not_before
        session.add(row)
