"""Helpers for tests against the real homeserver: users, rooms, a bot per test, waiting for replies."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomMessagesResponse, RoomSendResponse

from bot.app import App
from bot.config import Settings, parse_settings
from bot.domain.clock import Clock
from bot.state import repo
from dev.devserver import Homeserver, RegisteredUser


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def client_for(hs: Homeserver, user: RegisteredUser) -> AsyncClient:
    """A nio client with bounded retries, so a dead server fails the test instead of hanging it."""
    client = AsyncClient(hs.url, user.user_id, device_id=user.device_id,
                         config=AsyncClientConfig(max_limit_exceeded=3, max_timeouts=2, request_timeout=20))
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


async def create_room(client: AsyncClient, alias_localpart: str, invite: list[str],
                      powers: dict[str, int] | None = None) -> str:
    override = {"users": dict(powers or {})}
    answer = await client.room_create(alias=alias_localpart, invite=invite, name=alias_localpart,
                                      power_level_override=override)
    assert isinstance(answer, RoomCreateResponse), answer
    return answer.room_id


async def send_text(client: AsyncClient, room_id: str, body: str) -> str:
    answer = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(answer, RoomSendResponse), answer
    return answer.event_id


async def room_events(client: AsyncClient, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The latest events of a room, oldest first, as raw dicts."""
    answer = await client.room_messages(room_id, start="", limit=limit)
    assert isinstance(answer, RoomMessagesResponse), answer
    return [event.source for event in reversed(answer.chunk)]


async def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll an async predicate until it returns something truthy (waits on the network, not a schedule)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        await asyncio.sleep(interval)


async def wait_for_reply(client: AsyncClient, room_id: str, event_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The bot's event that replies to `event_id`."""

    async def find() -> dict[str, Any] | None:
        for event in await room_events(client, room_id):
            relates = event.get("content", {}).get("m.relates_to")
            reply_to = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
            if isinstance(reply_to, dict) and reply_to.get("event_id") == event_id:
                return event
        return None

    found: dict[str, Any] = await wait_for(find, timeout)
    return found


@dataclass
class World:
    """A bot user, a few people and a forum room, all fresh for one test."""

    hs: Homeserver
    tmp: Path
    bot: RegisteredUser
    people: dict[str, RegisteredUser]
    clients: dict[str, AsyncClient]
    rooms: dict[str, str]  # name -> room id
    aliases: dict[str, str]  # name -> alias
    apps: list[App] = field(default_factory=list)

    def settings(self, extra: Callable[[dict[str, Any]], None] | None = None) -> Settings:
        data = base_config(self)
        if extra:
            extra(data)
        return parse_settings(data)

    async def start_bot(self, settings: Settings | None = None, clock: Clock | None = None,
                        env: dict[str, str] | None = None) -> App:
        env = {"SAMVERKAN_PASSWORD": self.bot.password, **(env or {})}
        app = App(settings or self.settings(), clock=clock, env=env)
        await app.start()
        await app.wait_ready()
        self.apps.append(app)
        return app

    async def stop_bots(self) -> None:
        while self.apps:
            await self.apps.pop().stop()

    async def close(self) -> None:
        await self.stop_bots()
        for client in self.clients.values():
            await client.close()


def weekly_rule() -> str:
    """The test forum's weekly meeting: at 10:00 three days from today, so that the real time a test starts
    at never falls between its convocation (a day before) and its end: a test that keeps to the real clock
    sees no meeting step, whatever the day the suite runs."""
    day = (datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(days=3)).weekday()
    return f"FREQ=WEEKLY;BYDAY={('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')[day]};BYHOUR=10;BYMINUTE=0"


def base_config(world: World) -> dict[str, Any]:
    """A small model: Länsstyrelsen's TiB convenes, SOS Alarm and a municipality take part."""
    p = world.people
    return {
        "bot": {"language": "sv", "timezone": "Europe/Stockholm", "admins": [p["admin"].user_id],
                "log_room": world.aliases["logg"]},
        # Plain rooms and direct rooms, read by plain test clients; test_encryption turns it on.
        "matrix": {"homeserver": world.hs.url, "user_id": world.bot.user_id, "encryption": False},
        "database": {"url": f"sqlite+aiosqlite:///{world.tmp / 'bot.db'}"},
        "organisation": [
            {"id": "lst", "name": "Länsstyrelsen Stockholm", "home_room": world.aliases["lst"]},
            {"id": "sos", "name": "SOS Alarm"},
            {"id": "nacka", "name": "Nacka kommun"},
        ],
        "function": [
            {"id": "lst-tib", "organisation": "lst", "name": "Tjänsteman i beredskap (TiB)", "aliases": ["tib"],
             "may_convene": True, "holders": [p["tib"].user_id], "deputies": ["lst-rsib"]},
            {"id": "lst-rsib", "organisation": "lst", "name": "Regional samverkanskoordinator",
             "holders": [p["rsib"].user_id]},
            {"id": "sos-vakthavande", "organisation": "sos", "name": "Vakthavande, SOS Alarm",
             "holders": [p["sos"].user_id]},
            {"id": "nacka-tib", "organisation": "nacka", "name": "TiB, Nacka kommun",
             "holders": [p["nacka"].user_id]},
        ],
        "forum": [
            {"id": "samordnande", "name": "Regionalt samordnande forum", "level": "samordnande",
             "aliases": ["samordning"], "room": world.aliases["samordnande"], "chair": "lst-tib",
             "ordinary": ["lst-tib", "sos-vakthavande"],
             "activated": ["lst-tib", "lst-rsib", "sos-vakthavande", "nacka-tib"],
             "conference": {"phone": "+46812345678", "pin": "4711"},
             "meeting": [{"name": "Veckomöte", "rrule": weekly_rule()}]},
            {"id": "inriktande", "name": "Regionalt inriktande forum", "level": "inriktande",
             "room": world.aliases["inriktande"], "chair": "lst-tib", "activated": ["lst-tib", "nacka-tib"]},
        ],
    }


PEOPLE = ("admin", "tib", "rsib", "sos", "nacka", "outsider")
ROOMS = ("samordnande", "inriktande", "logg", "lst")


async def make_world(hs: Homeserver, tmp: Path) -> World:
    bot = hs.register(unique("bot"))
    people = {name: hs.register(unique(name)) for name in PEOPLE}
    clients = {name: client_for(hs, user) for name, user in people.items()}
    rooms: dict[str, str] = {}
    aliases: dict[str, str] = {}
    everyone = [u.user_id for n, u in people.items() if n != "admin"] + [bot.user_id]
    for name in ROOMS:
        localpart = unique(name)
        # The bot may set the topic everywhere but in the inriktande room.
        powers = {} if name == "inriktande" else {bot.user_id: 50}
        rooms[name] = await create_room(clients["admin"], localpart, everyone, powers)
        aliases[name] = f"#{localpart}:{hs.server_name}"
    for name, client in clients.items():
        if name != "admin":
            for room_id in rooms.values():
                await client.join(room_id)
    return World(hs, tmp, bot, people, clients, rooms, aliases)


async def highlights(hs: Homeserver, user: RegisteredUser) -> list[dict[str, Any]]:
    """What would ping this user's phone: the homeserver's own highlight decisions."""
    return await notifications(hs, user, only_highlight=True)


async def notifications(hs: Homeserver, user: RegisteredUser, only_highlight: bool = False) -> list[dict[str, Any]]:
    """What the homeserver notifies this user of (a message in a 1:1 room notifies with sound)."""
    async with aiohttp.ClientSession() as http, http.get(
        f"{hs.url}/_matrix/client/v3/notifications", params={"only": "highlight"} if only_highlight else {},
        headers={"Authorization": f"Bearer {user.access_token}"},
    ) as answer:
        body = await answer.json()
    return [{**n["event"], "room_id": n["room_id"]} for n in body["notifications"]]


async def room_state(client: AsyncClient, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
    answer = await client.room_get_state_event(room_id, event_type, state_key)
    return dict(getattr(answer, "content", {}) or {})


async def react(client: AsyncClient, room_id: str, event_id: str, key: str = "✅") -> None:
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
    answer = await client.room_send(room_id, "m.reaction", content)
    assert isinstance(answer, RoomSendResponse), answer


async def command(world: World, who: str, room: str, text: str) -> str:
    """Send a command as `who` in the named room and return the body of the bot's reply."""
    client = world.clients[who]
    event_id = await send_text(client, world.rooms[room], text)
    reply = await wait_for_reply(client, world.rooms[room], event_id)
    return str(reply["content"]["body"])


async def direct_room(app: App, user: RegisteredUser, timeout: float = 15.0) -> str:
    """The bot's direct room with `user`, once the bot has opened it."""

    async def find() -> str | None:
        async with app.db.session() as session:
            return await repo.get_value(session, f"dm:{user.user_id}")

    room_id: str = await wait_for(find, timeout)
    return room_id


async def direct_messages(world: World, app: App, who: str, count: int = 1, timeout: float = 15.0
                          ) -> list[dict[str, Any]]:
    """The bot's messages in its direct room with `who` (joining it), once there are at least `count`."""
    room_id = await direct_room(app, world.people[who], timeout)
    client = world.clients[who]
    await client.join(room_id)

    async def find() -> list[dict[str, Any]] | None:
        events = [e for e in await room_events(client, room_id)
                  if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]
        return events if len(events) >= count else None

    found: list[dict[str, Any]] = await wait_for(find, timeout)
    return found


async def direct_bodies(world: World, app: App, who: str) -> list[str]:
    """What the bot has sent to `who` in their direct room so far (nothing if it has none)."""
    async with app.db.session() as session:
        room_id = await repo.get_value(session, f"dm:{world.people[who].user_id}")
    if room_id is None:
        return []
    client = world.clients[who]
    await client.join(room_id)
    return [e["content"]["body"] for e in await room_events(client, room_id)
            if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]


async def settle(app: App) -> None:
    """Until the bot's outbox has delivered everything due."""
    app.outbox.notify()

    async def idle() -> bool:
        return app.outbox.settled()

    await wait_for(idle)


async def bot_said(world: World, room: str, needle: str) -> list[dict[str, Any]]:
    """The bot's events in a room whose body contains `needle`, as a member sees them."""
    return [e for e in await room_events(world.clients["tib"], world.rooms[room])
            if e["sender"] == world.bot.user_id and needle in e["content"].get("body", "")]


async def bot_files(world: World, room: str, prefix: str) -> list[dict[str, Any]]:
    """The files the bot sent in a room whose name starts with `prefix`."""
    return [e for e in await bot_said(world, room, prefix) if e["content"].get("msgtype") == "m.file"]


async def download(world: World, event: dict[str, Any]) -> str:
    """The text of a file the bot sent, fetched from the homeserver's media repository."""
    server, media_id = event["content"]["url"].removeprefix("mxc://").split("/", 1)
    async with aiohttp.ClientSession() as http, http.get(
            f"{world.hs.url}/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {world.people['tib'].access_token}"}) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.text()


async def record_files(world: World, room: str, name: str) -> tuple[dict[str, Any], str]:
    """The record `!export` sent in a room (files named `name`…): its JSON, read, and its HTML page."""

    async def both() -> list[dict[str, Any]] | None:
        found = await bot_files(world, room, name)
        return found if len(found) == 2 else None

    files = await wait_for(both)
    by_suffix = {f["content"]["body"].rsplit(".", 1)[-1]: f for f in files}
    return json.loads(await download(world, by_suffix["json"])), await download(world, by_suffix["html"])
