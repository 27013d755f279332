"""Rows handed to the outbox as they were committed: delivered without reading them back when nothing
else is due, and never twice when a read of the database saw them too; nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlmodel import col, select
from support import wait_for

from bot.domain.clock import FakeClock
from bot.matrix.outbox import OutboxSender
from bot.messages import PRIORITY_ANSWER, PRIORITY_PING, Message
from bot.state import repo
from bot.state.db import Database
from bot.state.models import OutboxMessage

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


class Recorded:
    """The outbox with sending replaced by a record of what would have gone out, and of its reads."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.outbox = OutboxSender(db, cast(Any, None), FakeClock(NOW))
        self.sent: list[str] = []
        self.reads = 0
        self.during_read: list[OutboxMessage] = []  # handed over while the read is under way
        self.outbox.send = self._send  # type: ignore[method-assign]
        due_messages = repo.due_messages

        async def counted(*args: Any, **kwargs: Any) -> Sequence[OutboxMessage]:
            self.reads += 1
            if self.during_read:
                self.outbox.hand(self.during_read)
                self.during_read = []
            return await due_messages(*args, **kwargs)

        monkeypatch.setattr(repo, "due_messages", counted)

    async def _send(self, row: OutboxMessage) -> tuple[int, str, str]:
        assert row.id is not None
        self.sent.append(row.txn_id)
        return row.id, "!room:test", f"${row.txn_id}"


async def commit(db: Database, cause: str, *priorities: int) -> list[OutboxMessage]:
    async with db.session() as session:
        return await repo.enqueue(session, cause, [Message("!room:test", cause, cause, priority=p)
                                                  for p in priorities], NOW)


async def unsent(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.exec(select(OutboxMessage).where(col(OutboxMessage.sent_at).is_(None)))
        return [row.txn_id for row in rows.all()]


async def test_an_answer_handed_over_goes_out_once_without_reading_it_back(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded(db, monkeypatch)
    assert await recorded.outbox.deliver_due(0) == (0, None)  # at start the lane reads: nothing is due
    assert recorded.reads == 1

    first = await commit(db, "first", PRIORITY_ANSWER)
    recorded.outbox.hand(first)
    await recorded.outbox.deliver_due(0)
    assert recorded.sent == [first[0].txn_id] and recorded.reads == 1, "sent as handed, not read back"
    assert await recorded.outbox.deliver_due(0) == (0, None)
    assert recorded.sent == [first[0].txn_id], "and not again"
    assert await unsent(db) == []


async def test_a_row_a_read_saw_while_it_was_handed_over_goes_out_once(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded(db, monkeypatch)
    early = await commit(db, "early", PRIORITY_ANSWER)
    recorded.during_read = early  # committed before the read, handed over while it runs: the read sees it
    await recorded.outbox.deliver_due(0)
    assert recorded.reads == 1 and recorded.sent == [early[0].txn_id]
    later = await commit(db, "later", PRIORITY_ANSWER)
    recorded.outbox.hand(later)
    await recorded.outbox.deliver_due(0)
    assert recorded.sent == [early[0].txn_id, later[0].txn_id], "each once"
    assert recorded.reads == 1


async def test_what_was_not_handed_over_is_read_and_goes_out(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded(db, monkeypatch)
    await recorded.outbox.deliver_due(0)
    told = await commit(db, "told", PRIORITY_ANSWER)
    recorded.outbox.notify()  # told of it, not handed it: the lane reads
    handed = await commit(db, "handed", PRIORITY_ANSWER)
    recorded.outbox.hand(handed)
    await recorded.outbox.deliver_due(0)
    assert recorded.reads == 2 and recorded.sent == [told[0].txn_id, handed[0].txn_id]


async def test_a_ping_and_an_answer_handed_over_together_go_in_order(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded(db, monkeypatch)
    await recorded.outbox.deliver_due(0)
    rows = await commit(db, "activation", PRIORITY_ANSWER, PRIORITY_PING)
    recorded.outbox.hand(rows)
    while (await recorded.outbox.deliver_due(0))[0]:
        pass
    assert recorded.sent == [rows[1].txn_id, rows[0].txn_id], "the ping first"
    assert await unsent(db) == []


async def test_a_failed_pass_reads_again_and_loses_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Recorded(db, monkeypatch)
    await recorded.outbox.deliver_due(0)
    rows = await commit(db, "unlucky", PRIORITY_ANSWER)
    recorded.outbox.hand(rows)
    failing = asyncio.Event()

    async def fails(row: OutboxMessage) -> tuple[int, str, str]:
        failing.set()
        raise ConnectionError("homeserver away")

    recorded.outbox.send = fails  # type: ignore[method-assign]
    task = asyncio.create_task(recorded.outbox.run())
    await asyncio.wait_for(failing.wait(), 5)

    async def backing_off() -> bool:  # the loop has taken the failure and waits before it tries again
        return recorded.outbox._must_read[0]

    await wait_for(backing_off, timeout=5, interval=0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    recorded.outbox.send = recorded._send  # type: ignore[method-assign]
    assert recorded.sent == []
    after = await commit(db, "after", PRIORITY_ANSWER)
    recorded.outbox.hand(after)
    await recorded.outbox.deliver_due(0)
    assert recorded.sent == [rows[0].txn_id, after[0].txn_id] and recorded.reads == 2


async def test_a_handed_convocation_ping_is_not_sent_once_the_convocation_has_ended(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Handed over as committed, then the forum deactivated before the lane got to it: never sent; the answer
    handed beside it still goes."""
    from bot.state import convocations
    from bot.state.models import Convocation

    recorded = Recorded(db, monkeypatch)
    await recorded.outbox.deliver_due(0)
    async with db.session() as session:
        convocation = await convocations.add(session, Convocation(forum_id="f", kind="activation", created_at=NOW,
                                                                  created_by="@tib:test", starts_at=NOW))
        rows = await repo.enqueue(session, "activate", [Message("!room:test", "ping", "ping", ping=True,
                                                                priority=PRIORITY_PING, ref=f"conv:{convocation.id}")],
                                  NOW)
    recorded.outbox.hand(rows)
    async with db.session() as session:
        ended = await convocations.end(session, [c for c in await convocations.standing(session, "f")], NOW,
                                       "deactivated")
    assert len(ended) == 1
    await recorded.outbox.deliver_due(0)
    await recorded.outbox.deliver_due(0)
    assert recorded.sent == [], "nothing for an ended convocation"
    assert await unsent(db) == [rows[0].txn_id]  # kept, marked as cancelled

    answer = await commit(db, "answer", PRIORITY_PING)
    recorded.outbox.hand(answer)
    await recorded.outbox.deliver_due(0)
    assert recorded.sent == [answer[0].txn_id]
