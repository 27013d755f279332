"""The Megolm messages seen, kept against replays: a message is known by room, session and index whatever
event carries it, and pruning closes a session instead of forgetting it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.state import megolm
from bot.state.db import Database

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def test_a_message_is_known_by_room_session_and_index_and_an_old_session_stays_closed(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await db.migrate()
    async with db.session() as session:
        assert await megolm.first_event(session, "!r", "s1", 0) is None
        await megolm.note(session, "!r", "s1", 0, "$first", T0)
        await megolm.note(session, "!r", "s2", 0, "$recent", T0 + timedelta(days=29))
    async with db.session() as session:
        assert await megolm.first_event(session, "!r", "s1", 0) == "$first", "a copy under another event id"
        assert await megolm.first_event(session, "!r", "s1", 1) is None, "the session's next message is new"
        assert await megolm.first_event(session, "!other", "s1", 0) is None, "another room's message"
    async with db.session() as session:
        assert await megolm.prune(session, T0 + timedelta(days=1), T0 + timedelta(days=31)) == 1
    async with db.session() as session:
        assert await megolm.first_event(session, "!r", "s1", 0) == "", "pruned, its session is closed"
        assert await megolm.first_event(session, "!r", "s1", 7) == "", "every message of a closed session is refused"
        assert await megolm.first_event(session, "!r", "s2", 0) == "$recent", "a recent one is kept"
        assert await megolm.prune(session, T0 + timedelta(days=1), T0 + timedelta(days=32)) == 0, "closed once"
    await db.close()
