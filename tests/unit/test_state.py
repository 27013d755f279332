"""The repositories on both backends: SQLite (aiosqlite) and PostgreSQL (asyncpg).

Each test gets a fresh database of each kind (`database_url`), migrates it and checks what the bot
relies on: order, idempotence, aware times, whole transactions, text kept exactly.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.messages import Message
from bot.state import convocations, forums, meetings, repo, reports
from bot.state.db import Database, DatabaseClosed, written
from bot.state.migrate import MIGRATIONS
from bot.state.models import Convocation, HandledEvent, LogEntry, MeetingRow, OutboxMessage, ReportRow, SchemaVersion

NOW = datetime(2026, 11, 26, 2, 57, tzinfo=UTC)


def say(target: str, body: str, priority: int = 5) -> Message:
    return Message(target, body, body, priority=priority)


async def test_migrations_apply_once(db: Database) -> None:
    assert await db.migrate() == []
    async with db.session() as session:
        versions = (await session.exec(select(SchemaVersion.version))).all()
    assert sorted(versions) == [m.version for m in MIGRATIONS]


async def test_outbox_goes_by_priority_then_age_and_a_repeated_cause_is_refused(db: Database) -> None:
    async with db.session() as session:
        await repo.enqueue(session, "$chatter", [say("!room:x", "svar", 9)], NOW)
        await repo.enqueue(session, "$ping", [say("!room:x", "kallelse", 1),
                                              say("user:@a:x", "dm", 3)], NOW)
    with pytest.raises(IntegrityError):  # the same event again: the same transaction ids
        async with db.session() as session:
            await repo.enqueue(session, "$ping", [say("!room:x", "kallelse", 1)], NOW)
    async with db.session() as session:
        due = await repo.due_messages(session, NOW)
        assert [m.target for m in due] == ["!room:x", "user:@a:x", "!room:x"]
        assert [m.priority for m in due] == [1, 3, 9]
        await repo.mark_sent(session, due[0].id or 0, "!room:x", "$sent", NOW)
        await repo.postpone(session, due[1].id or 0, NOW + timedelta(seconds=30))
    async with db.session() as session:
        assert [m.priority for m in await repo.due_messages(session, NOW)] == [9]
        assert await repo.next_not_before(session) == NOW
        sent = await repo.outbox_by_event(session, "$sent")
        assert sent is not None and sent.sent_at == NOW and sent.sent_at.tzinfo is not None


async def test_a_failed_transaction_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            assert await repo.claim(session, "$x", "!room:x", NOW)
            await repo.enqueue(session, "$x", [say("!room:x", "halvvägs")], NOW)
            await session.flush()
            raise RuntimeError("the handler failed")
    async with db.session() as session:
        assert await session.get(HandledEvent, "$x") is None
        assert (await session.exec(select(OutboxMessage))).all() == []


async def test_a_transaction_tells_which_tables_it_changed_and_a_read_changes_none(db: Database) -> None:
    async with db.session() as reading:
        await reading.get(HandledEvent, "$x")
        await repo.due_messages(reading, NOW)
    async with db.session() as writing:
        await repo.enqueue(writing, "$x", [say("!room:x", "svar")], NOW)
        await writing.flush()  # an early flush is remembered too
        await repo.audit(writing, at=NOW, user_id="@a:x", action="test")
    assert written(reading) == frozenset()
    assert written(writing) == {"outbox", "audit"}


async def test_an_event_is_claimed_once_and_a_claim_rolled_back_leaves_it_free(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            assert await repo.claim(session, "$x", "!room:x", NOW)
            raise RuntimeError("the handler failed")
    async with db.session() as session:
        assert await repo.claim(session, "$x", "!room:x", NOW), "the failed attempt did not count"
    async with db.session() as session:
        assert not await repo.claim(session, "$x", "!room:x", NOW + timedelta(seconds=1)), "handled: not again"
        assert await session.get(HandledEvent, "$x") is not None


async def test_times_come_back_aware_and_equal_whatever_zone_they_were_given_in(db: Database) -> None:
    stockholm = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Stockholm"))  # just after the clocks change
    async with db.session() as session:
        await convocations.add(session, Convocation(forum_id="f", kind="activation", created_at=stockholm,
                                                    created_by="@a:x", starts_at=stockholm))
    async with db.session() as session:
        row = await convocations.latest(session, "f")
    assert row is not None and row.created_at == stockholm and row.created_at.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive"):
        async with db.session() as session:
            await convocations.add(session, Convocation(forum_id="f", kind="extra", created_at=datetime(2026, 1, 1),
                                                        created_by="@a:x", starts_at=NOW))


async def test_escalation_timers_fall_due_in_order_and_stop_when_asked(db: Database) -> None:
    async with db.session() as session:
        conv = await convocations.add(session, Convocation(forum_id="f", kind="activation", created_at=NOW,
                                                           created_by="@a:x", starts_at=NOW))
        for minutes, function in ((5, "sos"), (3, "tib"), (10, "nacka")):
            await convocations.summon(session, conv.id or 0, function, [f"@{function}:x"], NOW,
                                      due_at=NOW + timedelta(minutes=minutes))
    async with db.session() as session:
        assert await convocations.next_due(session) == NOW + timedelta(minutes=3)
        due = await convocations.due(session, NOW + timedelta(minutes=6))
        assert [s.function_id for s in due] == ["tib", "sos"]
        assert convocations.holders(due[0]) == ["@tib:x"]
        assert await convocations.stop_escalations(session, "f") == 3
    async with db.session() as session:
        assert await convocations.next_due(session) is None
        assert await convocations.due(session, NOW + timedelta(days=1)) == []


async def test_activations_keep_their_history(db: Database) -> None:
    async with db.session() as session:
        first = await forums.activate(session, "f", event="snöoväder", description=None, at=NOW, by="@a:x",
                                      by_function="tib")
        await forums.activate(session, "f", event="elavbrott", description="Nacka", at=NOW + timedelta(hours=1),
                              by="@a:x", by_function="tib")
        await forums.deactivate(session, "f", at=NOW + timedelta(hours=2), by="@b:x")
    async with db.session() as session:
        state = await forums.forum_state(session, "f")
        history = await forums.history(session, "f")
    assert state.mode == "ordinary" and state.activation_id is None
    assert [a.event for a in history] == ["elavbrott", "snöoväder"]
    assert all(a.ended_at is not None for a in history)
    assert history[-1].id == first.id and history[-1].ended_at == NOW + timedelta(hours=1)


async def test_reports_and_meeting_log_keep_any_text_exactly(db: Database) -> None:
    text = "Läge: 🌨️ \u202ehöger\u202c <b>&amp;</b> @room\u200b " + "å" * 100_000
    async with db.session() as session:
        for hour, org in ((1, "sos"), (2, "lst"), (3, "sos")):
            await reports.add(session, ReportRow(forum_id="f", organisation_id=org, function_id=f"{org}-vb",
                                                 author=f"@{org}:x", at=NOW + timedelta(hours=hour), year=2026,
                                                 week=48, raw=text, text=text))
        meeting = await meetings.add(session, MeetingRow(forum_id="f", name="Konferens", starts_at=NOW,
                                                         status="open", opened_at=NOW))
        await meetings.add_entry(session, LogEntry(meeting_id=meeting.id or 0, forum_id="f", kind="decision",
                                                   text=text, author="@a:x", at=NOW))
    async with db.session() as session:
        week = await reports.of_week(session, "f", 2026, 48)
        latest = await reports.latest_of(session, "f", "sos")
        entries = await meetings.entries(session, meeting.id or 0)
        assert await meetings.open_meeting(session, "f") is not None
    assert [r.organisation_id for r in week] == ["sos", "lst", "sos"]
    assert latest is not None and latest.at == NOW + timedelta(hours=3) and latest.raw == text
    assert [e.text for e in entries] == [text]


async def test_a_transaction_a_cancelled_task_abandoned_does_not_block_the_next_start(database_url: str) -> None:
    first = Database(database_url)
    await first.migrate()
    abandoned = first.session()
    session = await abandoned.__aenter__()  # never left: as when a task is cancelled twice mid-write
    await repo.set_value(session, "sync_token", "s1")
    await session.flush()
    await first.close()

    second = Database(database_url)
    async with asyncio.timeout(10):
        async with second.session() as session:
            await repo.set_value(session, "sync_token", "s2")
        async with second.session() as session:
            assert await repo.get_value(session, "sync_token") == "s2"
    await second.close()


async def test_after_close_nothing_more_is_written(database_url: str) -> None:
    """A task that outlives its app gets an error instead of taking the write lock from the next start."""
    db = Database(database_url)
    await db.migrate()
    await db.close()
    with pytest.raises(DatabaseClosed):
        async with db.session() as session:
            await repo.set_value(session, "sync_token", "late")
    again = Database(database_url)
    async with again.session() as session:
        assert await repo.get_value(session, "sync_token") is None
    await again.close()


async def test_values_under_a_prefix_are_those_keys_only(db: Database) -> None:
    async with db.session() as session:
        await repo.set_values(session, {"dm:@a:x": "!a", "dm:@b:x": "!b", "dmx": "no", "d_:@c:x": "no",
                                        "sync_token": "s1"})
    async with db.session() as session:
        assert await repo.values_under(session, "dm:") == {"@a:x": "!a", "@b:x": "!b"}
        assert await repo.values_under(session, "d_:") == {"@c:x": "no"}, "an underscore is a letter, not a wildcard"
