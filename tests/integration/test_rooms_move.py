"""Rooms that move: a forum room upgraded to a new room version is followed; a bot put out of a room says so."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from support import World, bot_said, room_events, room_state, send_text, settle, wait_for, wait_for_reply

from bot.config import load_settings
from bot.matrix.rooms import MOVED
from bot.ops.health import check
from bot.state import repo
from bot.state.db import Database

ROOT = Path(__file__).resolve().parents[2]


async def upgrade(world: World, room_id: str) -> str:
    """The room's admin upgrades it (as Element's /upgraderoom does); the new room's id."""
    async with aiohttp.ClientSession() as http, http.post(
            f"{world.hs.url}/_matrix/client/v3/rooms/{room_id}/upgrade", json={"new_version": "12"},
            headers={"Authorization": f"Bearer {world.people['admin'].access_token}"}) as answer:
        body = await answer.json()
        assert answer.status == 200, body
    return str(body["replacement_room"])


async def bot_bodies(world: World, room_id: str, needle: str) -> list[dict[str, Any]]:
    return [e for e in await room_events(world.clients["tib"], room_id, 200)
            if e["sender"] == world.bot.user_id and needle in e.get("content", {}).get("body", "")]


async def test_an_upgraded_forum_room_is_followed_and_the_next_ping_goes_there_once(world: World) -> None:
    app = await world.start_bot()
    old = world.rooms["samordnande"]
    await world.clients["admin"].room_put_state(old, "m.room.join_rules", {"join_rule": "public"})
    new = await upgrade(world, old)

    told = await wait_for(lambda: bot_said(world, "logg", "har uppgraderats"))
    assert len(told) == 1 and new in told[0]["content"]["body"]
    tib = world.clients["tib"]
    await tib.join(new)
    asked = await send_text(tib, new, "!kalla samordnande avstämning")
    answer = await wait_for_reply(tib, new, asked)
    assert "Kallelse till Regionalt samordnande forum" in answer["content"]["body"], "the new room is the forum's"
    await settle(app)
    assert len(await bot_bodies(world, new, "Kallelse till extrainsatt")) == 1, "the ping goes to the new room, once"
    assert await bot_bodies(world, old, "Kallelse till extrainsatt") == [], "nothing more in the old room"
    assert (await room_state(tib, new, "se.samverkan.forum", "samordnande")).get("mode") == "ordinary"

    await world.stop_bots()  # the old id keeps leading to the new room after a restart
    app = await world.start_bot()
    asked = await send_text(tib, new, "!kalla samordnande igen")
    await wait_for_reply(tib, new, asked)
    await settle(app)
    assert len(await bot_bodies(world, new, "Kallelse till extrainsatt")) == 2
    assert await bot_bodies(world, old, "Kallelse till extrainsatt") == []
    assert len(await bot_said(world, "logg", "har uppgraderats")) == 1, "told once"


async def test_kicked_from_a_forum_room_the_log_room_and_health_say_so(world: World) -> None:
    app = await world.start_bot()
    admin, room = world.clients["admin"], world.rooms["inriktande"]
    await admin.room_kick(room, world.bot.user_id, reason="städning")
    told = await wait_for(lambda: bot_said(world, "logg", "kastats ut ur rummet för Regionalt inriktande forum"))
    assert len(told) == 1 and world.people["admin"].user_id in told[0]["content"]["body"]

    async def unhealthy() -> str | None:
        healthy, why = await check(app.settings)
        return why if not healthy and "removed from configured rooms" in why else None

    assert room in await wait_for(unhealthy)
    await admin.room_invite(room, world.bot.user_id)  # an admin's invitation: the bot joins again

    async def healthy() -> bool:
        return (await check(app.settings))[0]

    await wait_for(healthy)
    await settle(app)
    assert len(await bot_said(world, "logg", "kastats ut")) == 1


def test_check_config_warns_of_a_room_the_bot_followed_to_its_upgrade(tmp_path: Path) -> None:
    """Read from the bot's database: the configuration still names the old room."""
    config = tmp_path / "config.toml"
    db = tmp_path / "bot.db"
    text = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    config.write_text(text.replace("sqlite+aiosqlite:///data/samverkan.db", f"sqlite+aiosqlite:///{db}"),
                      encoding="utf-8")
    settings = load_settings(config)
    old = settings.forums[0].room

    async def follow() -> None:
        database = Database(settings.database.url)
        await database.migrate()
        await database.write(lambda session: repo.set_value(session, MOVED + old, "!nytt"))
        await database.close()

    asyncio.run(follow())
    answer = subprocess.run([sys.executable, "-m", "bot", "check-config", str(config)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert answer.returncode == 0, answer.stderr
    assert f"forum[0].room: the room {old} was upgraded; its new id is !nytt" in answer.stderr
    assert answer.stderr.count("was upgraded") == 1
