"""`python -m bot health`: is the database readable and did the bot sync with its homeserver lately?

Meant for a container HEALTHCHECK or a monitoring probe: one line, exit code 0 when healthy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.matrix.sync import LAST_SYNC, NOT_READY
from bot.state import repo
from bot.state import sms as sms_store
from bot.state.db import Database

# The sync long-polls for 30 s; two missed polls and a bit is unhealthy.
STALE = timedelta(seconds=90)


async def check(settings: Settings, now: datetime | None = None) -> tuple[bool, str]:
    """(healthy, a sentence saying why)."""
    now = now or datetime.now(UTC)
    url = settings.database.url
    if url.startswith("sqlite") and not await asyncio.to_thread(Path(url.split(":///", 1)[-1]).exists):
        return False, f"no database at {url.split(':///', 1)[-1]}"  # and do not create one
    db = Database(url)
    try:
        async with db.session() as session:
            last = await repo.get_value(session, LAST_SYNC)
            not_ready = await repo.get_value(session, NOT_READY)
            gateway = await repo.get_value(session, sms_store.GATEWAY) if settings.sms else None
    except Exception as exc:  # noqa: BLE001 - any failure to read the database is the answer
        return False, f"database unreadable: {type(exc).__name__}: {exc}"
    finally:
        await db.close()
    if not_ready is not None:
        since, _, reason = not_ready.partition(" ")
        return False, f"not ready: {reason} (since {since})"
    if last is None:
        return False, "the bot has not synced with its homeserver yet"
    age = now - datetime.fromisoformat(last)
    if age > STALE:
        return False, f"last successful sync {age.total_seconds():.0f} s ago"
    if gateway is not None and gateway.startswith("down "):
        _, since, why = gateway.split(" ", 2)
        return False, f"sms gateway not answering since {since} ({why}); SMS wait in the database"
    return True, f"ok: last successful sync {age.total_seconds():.0f} s ago"
