"""The online backup copies a database in use, and the copy passes SQLite's integrity check."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ops.backup import backup, sqlite_path
from bot.state import repo
from bot.state.db import Database


async def test_a_backup_taken_while_a_transaction_is_open_has_every_committed_row(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await db.migrate()
    async with db.session() as session:
        for i in range(50):
            await repo.audit(session, at=datetime.now(UTC), user_id=f"@u{i}:example.org", action="activate")
    async with db.session() as session:  # a writer in progress does not stop the backup
        await repo.audit(session, at=datetime.now(UTC), user_id="@late:example.org", action="activate")
        await session.flush()
        result = backup(tmp_path / "bot.db", tmp_path / "copy.db")
    await db.close()
    assert result == "ok"
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT count(*) FROM audit").fetchone()[0] == 50
        assert copy.execute("SELECT max(version) FROM schema_version").fetchone()[0] >= 5


def test_backup_refuses_to_overwrite_or_to_guess(tmp_path: Path) -> None:
    (tmp_path / "bot.db").write_bytes(b"")
    (tmp_path / "copy.db").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        backup(tmp_path / "bot.db", tmp_path / "copy.db")
    with pytest.raises(ValueError, match="SQLite"):
        sqlite_path("postgresql+asyncpg://db/samverkan")
