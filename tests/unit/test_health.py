"""`python -m bot health`: healthy only with a readable database and a recent sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings, parse_settings
from bot.matrix.sync import LAST_SYNC
from bot.ops.health import check
from bot.state import repo
from bot.state.db import Database


def settings(path: Path) -> Settings:
    return parse_settings({"matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:example.org"},
                           "database": {"url": f"sqlite+aiosqlite:///{path}"}})


async def test_health_follows_the_last_successful_sync(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bot.db"
    assert await check(settings(missing)) == (False, f"no database at {missing}")
    assert not missing.parent.exists()  # a health check creates nothing
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await db.migrate()
    healthy, why = await check(settings(tmp_path / "bot.db"))
    assert not healthy and "not synced" in why
    now = datetime.now(UTC)
    async with db.session() as session:
        await repo.set_value(session, LAST_SYNC, (now - timedelta(seconds=20)).isoformat())
    await db.close()
    assert (await check(settings(tmp_path / "bot.db"), now))[0]
    healthy, why = await check(settings(tmp_path / "bot.db"), now + timedelta(minutes=5))
    assert not healthy and "last successful sync 320 s ago" in why
