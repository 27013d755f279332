"""With Synapse's default rate limits and no exemption, a convocation still reaches everyone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse
from sqlmodel import col, select
from support import World, client_for, direct_messages, highlights, send_text, unique, wait_for, wait_for_reply

from bot.app import App
from bot.config import parse_settings
from bot.state.models import OutboxMessage
from dev.devserver import Homeserver

HOLDERS = 8  # with the room ping, the room state and the reply: more events than Synapse's burst of 10


@pytest.fixture(scope="module")
def limited_homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    hs = Homeserver(tmp_path_factory.mktemp("synapse-limited"), default_limits=True)
    hs.start()
    yield hs
    hs.stop()


@pytest.fixture
async def limited_world(limited_homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[World]:
    hs = limited_homeserver
    bot = hs.register(unique("bot"))
    people = {f"p{i}": hs.register(unique(f"p{i}")) for i in range(HOLDERS)}
    people["admin"] = hs.register(unique("admin"))
    clients = {name: client_for(hs, user) for name, user in people.items()}
    localpart = unique("samordnande")
    answer = await clients["admin"].room_create(alias=localpart, preset=None, invite=[bot.user_id],
                                                initial_state=[{"type": "m.room.join_rules", "state_key": "",
                                                                "content": {"join_rule": "public"}}],
                                                power_level_override={"users": {bot.user_id: 50}})
    assert isinstance(answer, RoomCreateResponse), answer
    for name, client in clients.items():
        if name != "admin":
            await client.join(answer.room_id)
    world = World(hs, tmp_path, bot, people, clients, {"samordnande": answer.room_id},
                  {"samordnande": f"#{localpart}:{hs.server_name}"})
    yield world
    await world.close()


def config(world: World) -> dict[str, Any]:
    holders = [world.people[f"p{i}"].user_id for i in range(HOLDERS)]
    functions = [{"id": f"f{i}", "organisation": "lst", "name": f"Funktion {i}", "holders": [user],
                  "may_convene": i == 0} for i, user in enumerate(holders)]
    return {
        "bot": {"admins": [world.people["admin"].user_id]},
        "matrix": {"homeserver": world.hs.url, "user_id": world.bot.user_id, "encryption": False},
        "database": {"url": f"sqlite+aiosqlite:///{world.tmp / 'bot.db'}"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}],
        "function": functions,
        "forum": [{"id": "samordnande", "name": "Samordnande forum", "level": "samordnande",
                   "room": world.aliases["samordnande"], "chair": "f0", "activated": [f["id"] for f in functions]}],
    }


async def test_default_limits_delay_but_never_drop_and_the_room_ping_lands_first(limited_world: World) -> None:
    world = limited_world
    app = App(parse_settings(config(world)), env={"SAMVERKAN_PASSWORD": world.bot.password})
    world.apps.append(app)
    await app.start()
    await app.wait_ready()
    room = world.rooms["samordnande"]
    event_id = await send_text(world.clients["p0"], room, "!aktivera samordnande storm")

    pings = []
    for i in range(HOLDERS):
        who = f"p{i}"
        ping = await wait_for(lambda who=who: _room_ping(world, who, room), timeout=60)  # type: ignore[misc]
        pings.append(ping)
    assert len({p["event_id"] for p in pings}) == 1  # one event rang every phone
    direct = [(await direct_messages(world, app, f"p{i}", timeout=240))[0] for i in range(HOLDERS)]
    assert all("Du kallas som" in d["content"]["body"] for d in direct)
    assert all(pings[0]["origin_server_ts"] <= d["origin_server_ts"] for d in direct)
    # The quiet reply to the convener comes last, but it comes: nothing was dropped.
    assert "aktiverat" in (await wait_for_reply(world.clients["p0"], room, event_id, timeout=120))["content"]["body"]
    async with app.db.session() as session:
        assert not (await session.exec(select(OutboxMessage).where(col(OutboxMessage.failed).is_(True)))).all()


async def _room_ping(world: World, who: str, room: str) -> dict[str, Any] | None:
    found = [e for e in await highlights(world.hs, world.people[who])
             if e["room_id"] == room and "Kallelse" in e["content"]["body"]]
    return found[0] if found else None
