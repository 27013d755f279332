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


async def test_a_claimed_sms_is_not_cancelled_by_the_end_and_a_crash_leaves_it_sent_again_or_counted_texted(
        db: Database) -> None:
    """The sender claims an SMS before its sendsms: the end cancels only those still queued, the one in hand
    counts as texted (its person is told it ended), a second claim fails, and after a crash a claimed SMS of a
    convocation that stands is queued again (one double at most) while one of an ended convocation counts as
    taken."""
    async def add(session: AsyncSession) -> None:
        for key, ref, user in (("a", "conv:1", "@a"), ("b", "conv:1", "@b"), ("c", "conv:2", "@c")):
            session.add(SmsMessage(key=key, kind="convocation", number="sealed", lookup=key, text="t", ref=ref,
                                   user_id=user, created_at=NOW, not_before=NOW))

    await db.write(add)
    assert await db.write(lambda session: store.claim(session, 1))
    assert not await db.write(lambda session: store.claim(session, 1)), "claimed once"
    assert await db.write(lambda session: store.cancel_steps(session, ["conv:1"])) == 1, "only b, still queued"
    assert not await db.write(lambda session: store.claim(session, 2)), "cancelled: never sent"
    async with db.session() as session:
        assert [r.user_id for r in await store.texted(session, "conv:1")] == ["@a"]
        notice = SmsMessage(id=9, key="n", kind="notice", number="sealed", lookup="b", text="t", ref="conv:1",
                            user_id="@b", created_at=NOW, not_before=NOW)
        assert await store.unfounded_notices(session, [notice]) == [9], "b was never texted: not told"
    assert await db.write(lambda session: store.claim(session, 3))
    assert await db.write(lambda session: store.recover(session, {"conv:1"})) == 2
    async with db.session() as session:
        rows = {r.key: r.state for r in await store.of_ref(session, "conv:1") + await store.of_ref(session, "conv:2")}
    assert rows == {"a": store.ACCEPTED, "b": store.CANCELLED, "c": store.QUEUED}
