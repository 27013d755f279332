"""Repository functions: the only place that reads and writes the tables."""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import ATTACHMENT, MESSAGE, Message, Outgoing, Sms, StateUpdate, message_data
from bot.state.models import AuditEntry, HandledEvent, KeyValue, OutboxMessage, SmsMessage

# ---- bot state ----


async def get_value(session: AsyncSession, key: str) -> str | None:
    row = await session.get(KeyValue, key)
    return row.value if row else None


async def values_under(session: AsyncSession, prefix: str) -> dict[str, str]:
    """Every key that starts with `prefix` (without it) and its value."""
    rows = await session.exec(select(KeyValue).where(col(KeyValue.key).startswith(prefix, autoescape=True)))
    return {row.key.removeprefix(prefix): row.value for row in rows.all()}


async def set_value(session: AsyncSession, key: str, value: str) -> None:
    await set_values(session, {key: value})


async def set_values(session: AsyncSession, values: dict[str, str]) -> None:
    """Insert or replace several keys in one statement (no read first: the sync writes two on every response)."""
    insert = _dialect(session).insert(KeyValue).values([{"key": key, "value": value} for key, value in values.items()])
    await session.exec(insert.on_conflict_do_update(index_elements=["key"], set_={"value": insert.excluded.value}))
    for key, value in values.items():  # a row this session has read before must not look stale
        loaded = session.sync_session.identity_map.get(identity_key(KeyValue, key))
        if loaded is not None:
            set_committed_value(loaded, "value", value)


async def delete_value(session: AsyncSession, key: str) -> None:
    row = await session.get(KeyValue, key)
    if row is not None:
        await session.delete(row)


# ---- handled events ----


async def claim(session: AsyncSession, event_id: str, room_id: str, at: datetime) -> bool:
    """Mark an event handled in the transaction that handles it, in one statement; False when it already
    was (seen again after a restart), and then it must not be handled again."""
    insert = _dialect(session).insert(HandledEvent).values(event_id=event_id, room_id=room_id, handled_at=at)
    result = await session.exec(insert.on_conflict_do_nothing(index_elements=["event_id"]))
    return bool(result.rowcount)


def _dialect(session: AsyncSession) -> Any:
    """The database's own SQLAlchemy dialect module, for its insert with ON CONFLICT."""
    assert session.bind is not None
    return importlib.import_module(f"sqlalchemy.dialects.{session.bind.dialect.name}")


# ---- outbox ----


def transaction_id(cause: str, index: int) -> str:
    """Deterministic: the same cause always produces the same ids, so a retry is de-duplicated."""
    return hashlib.sha256(f"{cause}\x00{index}".encode()).hexdigest()[:32]


def _rows(message: Message | StateUpdate, now: datetime) -> list[OutboxMessage]:
    """The outbox rows for one message: a state event, or a message and its attachment."""
    row = OutboxMessage(txn_id="", target=message.target, priority=message.priority, created_at=now,
                        not_before=now, content="")
    if isinstance(message, StateUpdate):
        row.event_type, row.state_key = message.event_type, message.state_key
        row.content = json.dumps(message.content, ensure_ascii=False)
        return [row]
    # Plain data: bot/matrix renders it as Matrix content when it sends.
    row.content = json.dumps({MESSAGE: message_data(message)}, ensure_ascii=False)
    row.ref = message.ref
    if message.attachment is None:
        return [row]
    attachment = OutboxMessage(txn_id="", target=message.target, priority=message.priority, created_at=now,
                               not_before=now, content=json.dumps({ATTACHMENT: asdict(message.attachment)},
                                                                  ensure_ascii=False))
    return [row, attachment]


async def enqueue(session: AsyncSession, cause: str, messages: Sequence[Outgoing],
                  now: datetime) -> list[OutboxMessage]:
    """Write messages for delivery, in the transaction that decided them; returns the Matrix outbox's rows
    (an SMS goes to its own table, for the SMS sender)."""
    for sms in messages:
        if isinstance(sms, Sms):
            session.add(SmsMessage(key=sms.key, kind=sms.kind, user_id=sms.user_id, number=sms.number,
                                   lookup=sms.lookup, text=sms.text, ref=sms.ref, event_key=sms.event_key,
                                   code=sms.code, created_at=now, not_before=now))
    rows = [row for message in messages if not isinstance(message, Sms) for row in _rows(message, now)]
    for index, row in enumerate(rows):
        row.txn_id = transaction_id(cause, index)
        session.add(row)
    return rows


async def outbox_by_event(session: AsyncSession, event_id: str) -> OutboxMessage | None:
    """The sent message with this Matrix event id, e.g. the one someone reacted to."""
    return (await session.exec(select(OutboxMessage).where(OutboxMessage.event_id == event_id))).first()


async def first_sent(session: AsyncSession, ref: str) -> str | None:
    """The event id of the first message about `ref` that has been sent (the one to edit), if any."""
    query = (select(OutboxMessage.event_id).where(OutboxMessage.ref == ref, col(OutboxMessage.event_id).is_not(None),
                                                  col(OutboxMessage.event_id) != "")
             .order_by(col(OutboxMessage.id)))
    return (await session.exec(query)).first()


Priorities = tuple[int, int | None]  # a lane of the outbox: from, to (None: no end)
EVERY: Priorities = (0, None)


def _undelivered(priorities: Priorities) -> list[Any]:
    low, high = priorities
    where = [col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed).is_(False),
             col(OutboxMessage.priority) >= low]
    return where if high is None else [*where, col(OutboxMessage.priority) <= high]


async def due_messages(session: AsyncSession, now: datetime, limit: int = 2000,
                       priorities: Priorities = EVERY) -> Sequence[OutboxMessage]:
    """Undelivered messages whose time has come, most urgent first, oldest first."""
    query = (
        select(OutboxMessage)
        .where(*_undelivered(priorities), col(OutboxMessage.not_before) <= now)
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
        .limit(limit)
    )
    return (await session.exec(query)).all()


async def next_not_before(session: AsyncSession, priorities: Priorities = EVERY) -> datetime | None:
    """When the earliest postponed message falls due."""
    query = (select(OutboxMessage.not_before).where(*_undelivered(priorities))
             .order_by(col(OutboxMessage.not_before)).limit(1))
    return (await session.exec(query)).first()


async def postpone(session: AsyncSession, message_id: int, not_before: datetime) -> None:
    """Send later, without counting an attempt (the homeserver asked us to wait)."""
    row = await session.get(OutboxMessage, message_id)
    if row is not None:
        row.not_before = not_before
        session.add(row)


async def mark_sent(session: AsyncSession, message_id: int, room_id: str, event_id: str, at: datetime) -> None:
    await session.exec(update(OutboxMessage).where(col(OutboxMessage.id) == message_id)
                          .values(sent_at=at, room_id=room_id, event_id=event_id))


CANCELLED = "cancelled: the convocation has ended"


async def cancel_steps(session: AsyncSession, refs: Sequence[str], people: Sequence[str] | None = None) -> int:
    """The Matrix steps of these convocations not sent yet (room pings, direct messages, reminders) are not
    sent: marked failed, with why. `people`: only their direct messages."""
    if not refs:
        return 0
    query = update(OutboxMessage).where(col(OutboxMessage.ref).in_(list(refs)), *_undelivered(EVERY))
    if people is not None:
        query = query.where(col(OutboxMessage.target).in_([f"user:{p}" for p in people]))
    result = await session.exec(query.values(failed=True, last_error=CANCELLED))
    return int(result.rowcount or 0)


async def mark_retry(session: AsyncSession, message_id: int, not_before: datetime, error: str,
                     *, give_up: bool = False) -> None:
    row = await session.get(OutboxMessage, message_id)
    if row is not None:
        row.attempts += 1
        row.not_before = not_before
        row.last_error = error[:500]
        row.failed = give_up
        session.add(row)


# ---- audit ----


async def audit(
    session: AsyncSession,
    *,
    at: datetime,
    user_id: str,
    action: str,
    function_id: str | None = None,
    forum_id: str | None = None,
    allowed: bool = True,
    event_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at, user_id=user_id, action=action, function_id=function_id, forum_id=forum_id,
            allowed=allowed, event_id=event_id, detail=json.dumps(detail or {}, ensure_ascii=False),
        )
    )
