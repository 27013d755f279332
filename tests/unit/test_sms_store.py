"""The SMS outbox's storage on SQLite and PostgreSQL: when the next postponed SMS falls due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.state import sms as store
from bot.state.db import Database
from bot.state.models import SmsMessage

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


async def test_the_next_postponed_sms_is_an_aware_time_the_sender_can_wait_for(db: Database) -> None:
    """A refused SMS waits 30 s; the sender subtracts the clock's aware now from its time."""
    async def add(session: AsyncSession) -> None:
        for i, later in enumerate((timedelta(seconds=30), timedelta(seconds=10))):
            session.add(SmsMessage(key=f"k{i}", kind="convocation", number="sealed", lookup="l", text="t",
                                   created_at=NOW, not_before=NOW + later))
        session.add(SmsMessage(key="sent", kind="convocation", number="sealed", lookup="l", text="t",
                               created_at=NOW, not_before=NOW, state=store.ACCEPTED))

    await db.write(add)
    async with db.session() as session:
        upcoming = await store.next_not_before(session)
    assert upcoming is not None and upcoming - NOW == timedelta(seconds=10)
