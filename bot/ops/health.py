"""`python -m bot health`: is the database readable and did the bot sync with its homeserver lately?

Meant for a container HEALTHCHECK or a monitoring probe: one line, exit code 0 when healthy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.matrix.rooms import MOVED, REMOVED
from bot.matrix.sync import LAST_SYNC, NOT_READY
from bot.state import feeds, repo
from bot.state import sms as sms_store
from bot.state import voice as voice_store
from bot.state.db import Database

# The sync long-polls for 30 s; two missed polls and a bit is unhealthy.
STALE = timedelta(seconds=90)


async def _missing(url: str) -> str | None:
    """The path of an SQLite database that is not there (a probe must not create one); None otherwise."""
    path = url.split(":///", 1)[-1]
    return path if url.startswith("sqlite") and not await asyncio.to_thread(Path(path).exists) else None


async def room_moves(settings: Settings) -> dict[str, str]:
    """The upgraded rooms the running bot followed (old id -> new id), from its database if there is one."""
    url = settings.database.url
    if await _missing(url):
        return {}
    db = Database(url)
    try:
        async with db.session() as session:
            return await repo.values_under(session, MOVED)
    except Exception:  # noqa: BLE001 - a database not made yet, or unreachable: nothing to warn of
        return {}
    finally:
        await db.close()


def moved_warnings(settings: Settings, moves: dict[str, str]) -> list[str]:
    """A configured room that was upgraded: the configuration should name the new one."""
    places = [(f"forum[{i}].room", f.room) for i, f in enumerate(settings.forums)]
    places += [(f"organisation[{i}].home_room", o.home_room) for i, o in enumerate(settings.organisations)
               if o.home_room]
    places += [("bot.log_room", settings.bot.log_room)] if settings.bot.log_room else []
    return [f"{place}: the room {room} was upgraded; its new id is {moves[room]}: name it here"
            for place, room in places if room in moves]


STALE_AFTER_MISSES = 3  # polls in a row without a good answer
SCHEDULE_STALE = timedelta(days=1)  # a duty schedule changes seldom: stale after a day


async def check(settings: Settings, now: datetime | None = None) -> tuple[bool, str]:
    """(healthy, a sentence saying why)."""
    now = now or datetime.now(UTC)
    url = settings.database.url
    if missing := await _missing(url):
        return False, f"no database at {missing}"
    db = Database(url)
    try:
        async with db.session() as session:
            last = await repo.get_value(session, LAST_SYNC)
            not_ready = await repo.get_value(session, NOT_READY)
            gateway = await repo.get_value(session, sms_store.GATEWAY) if settings.sms else None
            trunk = await repo.get_value(session, voice_store.TRUNK) if settings.voice else None
            removed = await repo.values_under(session, REMOVED)
            stale = [f for f in await feeds.failing(session, STALE_AFTER_MISSES)
                     if f.name == feeds.WARNINGS or (f.failing_since and now - f.failing_since > SCHEDULE_STALE)]
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
    if removed:
        return False, "removed from configured rooms: " + "; ".join(
            f"{room} ({value.split(' ')[0]} by {value.split(' ')[1]})" for room, value in removed.items())
    if gateway is not None and gateway.startswith("down "):
        _, since, why = gateway.split(" ", 2)
        return False, f"sms gateway not answering since {since} ({why}); SMS wait in the database"
    if trunk is not None and trunk.startswith("down "):
        _, since, why = trunk.split(" ", 2)
        return False, f"voice calls failing since {since} ({why}); calls wait in the database"
    if stale:
        return False, "; ".join(f"{f.name} feed stale since {(f.good_at or f.failing_since or now).isoformat()} "
                                f"({f.fault}); the last good copy is used" for f in stale)
    return True, f"ok: last successful sync {age.total_seconds():.0f} s ago"
