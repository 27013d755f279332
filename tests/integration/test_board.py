"""The crisis room's live board against the real Synapse: `!tavla` adds it to the forum's room as a widget, a
member's OpenID token (as the Widget API gets it from the homeserver) opens a session and the forum's state,
changes arrive as server-sent events, and anyone else (no token, a forged token, a stranger, a token from a
server at an internal address, an expired or revoked link) gets a sentence and nothing else."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from pgserver import free_port
from support import World, command, direct_bodies, react, room_events, room_state, unique, wait_for

from bot.app import App
from bot.config import Settings
from bot.domain.clock import FakeClock


@dataclass
class Board:
    world: World
    url: str
    clock: FakeClock
    http: aiohttp.ClientSession
    app: App | None = None

    def settings(self) -> Settings:
        def add(data: dict[str, Any]) -> None:
            data["board"] = {"listen": self.url.removeprefix("http://"), "public_url": self.url}

        return self.world.settings(add)

    async def openid(self, who: str) -> dict[str, Any]:
        """An OpenID token from the homeserver, as Element's Widget API asks for one (MSC1960)."""
        user = self.world.people[who] if who in self.world.people else self.world.hs.register(unique(who))
        async with self.http.post(f"{self.world.hs.url}/_matrix/client/v3/user/{user.user_id}/openid/request_token",
                                  json={}, headers={"Authorization": f"Bearer {user.access_token}"}) as answer:
            assert answer.status == 200, await answer.text()
            return dict(await answer.json())

    async def session(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.url}/board/api/session", json=body) as answer:
            return answer.status, dict(await answer.json())

    async def state(self, token: str | None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(f"{self.url}/board/api/state", headers=headers) as answer:
            return answer.status, dict(await answer.json())


@pytest.fixture
async def board(world: World) -> AsyncIterator[Board]:
    async with aiohttp.ClientSession() as http:
        found = Board(world, f"http://127.0.0.1:{free_port()}", FakeClock(datetime.now(UTC)), http)
        found.app = await world.start_bot(found.settings(), found.clock)
        yield found
        await world.stop_bots()


class Stream:
    """The board's server-sent events, read as the page reads them (fetch, Authorization header)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.states: list[dict[str, Any]] = []
        self.ended = False
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        buffer = ""
        async for chunk in self.response.content.iter_any():
            buffer += chunk.decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                data = "".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
                if data:
                    self.states.append(json.loads(data))
        self.ended = True

    async def until(self, check: Any, timeout: float = 10.0) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            return next((s for s in reversed(self.states) if check(s)), None)

        result: dict[str, Any] = await wait_for(found, timeout)
        return result

    def close(self) -> None:
        self._reader.cancel()
        self.response.close()


async def events(board: Board, token: str) -> Stream:
    response = await board.http.get(f"{board.url}/board/api/events", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    return Stream(response)


async def test_a_member_sees_the_forum_live_and_nobody_else_sees_anything(board: Board) -> None:
    world = board.world
    assert "Du får inte göra det" in await command(world, "nacka", "samordnande", "!tavla")
    assert "tillagd överst i rummet" in await command(world, "tib", "samordnande", "!tavla")
    client, room = world.clients["tib"], world.rooms["samordnande"]

    async def widget() -> dict[str, Any] | None:
        return await room_state(client, room, "im.vector.modular.widgets", "samverkan-board-samordnande") or None

    content = await wait_for(widget)
    assert content["type"] == "m.custom"
    assert content["url"] == (f"{board.url}/board/#/?widgetId=$matrix_widget_id&roomId=$matrix_room_id"
                              "&userId=$matrix_user_id&lang=sv"), "the variables in the fragment"
    async def pinned() -> dict[str, Any] | None:
        return await room_state(client, room, "io.element.widgets.layout") or None

    layout = await wait_for(pinned)
    assert layout["widgets"]["samverkan-board-samordnande"]["container"] == "top"

    status, refused = await board.state(None)
    assert (status, refused) == (401, {"error": "Logga in för att se lägestavlan."})
    forged = {**await board.openid("tib"), "access_token": "forged-token"}
    assert await board.session({"openid": forged, "room_id": room}) == (
        403, {"error": "Din inloggning kunde inte bekräftas hos din hemserver."})
    inside = {**await board.openid("tib"), "matrix_server_name": "127.0.0.1:8008"}
    assert (await board.session({"openid": inside, "room_id": room}))[0] == 403, \
        "a server at an internal address is never asked (no SSRF)"
    assert await board.session({"openid": await board.openid("stranger"), "room_id": room}) == (
        403, {"error": "Lägestavlan visas bara för forumets medlemmar."})
    assert (await board.session({"openid": "x"}))[0] == 400

    await world.clients["sos"].set_displayname("Sara Svensson")
    status, opened = await board.session({"openid": await board.openid("sos"), "room_id": room})
    assert status == 200 and opened["forum"] == "samordnande"
    token = opened["token"]
    status, state = await board.state(token)
    assert status == 200 and state["name"] == "Regionalt samordnande forum" and state["mode"] == "ordinarie läge"
    assert "+46" not in json.dumps(state), "no phone numbers"

    stream = await events(board, token)
    try:
        await stream.until(lambda s: s["mode"] == "ordinarie läge")
        await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
        active = await stream.until(lambda s: s["active"] and s["convocation"])
        assert active["event"] == "snöoväder" and active["convocation"]["acknowledged"] == 0
        assert {p["function"] for p in active["convocation"]["people"]} == {
            "Tjänsteman i beredskap (TiB)", "Regional samverkanskoordinator", "Vakthavande, SOS Alarm",
            "TiB, Nacka kommun"}
        ping = next(e for e in await room_events(world.clients["sos"], room)
                    if e["sender"] == world.bot.user_id and e["content"].get("m.mentions", {}).get("user_ids"))
        await react(world.clients["sos"], room, ping["event_id"])
        acked = await stream.until(lambda s: s["convocation"] and s["convocation"]["acknowledged"] == 1)
        sos = next(p for p in acked["convocation"]["people"] if p["function"] == "Vakthavande, SOS Alarm")
        assert sos["state"] == "acknowledged" and sos["by"] == "Sara Svensson", "the name people see, not the id"
        assert sos["organisation"] == "SOS Alarm"
        assert [p["state"] for p in acked["convocation"]["people"]].count("acknowledged") == 1
    finally:
        stream.close()

    assert "borttagen" in await command(world, "tib", "samordnande", "!tavla av")

    async def removed() -> bool:
        return await room_state(client, room, "im.vector.modular.widgets", "samverkan-board-samordnande") == {}

    await wait_for(removed)


async def test_a_wall_screen_link_is_sent_privately_and_stops_when_revoked_or_expired(board: Board) -> None:
    world, app = board.world, board.app
    assert app is not None
    assert "Du får inte göra det" in await command(world, "nacka", "samordnande", "!tavla länk")
    answer = await command(world, "tib", "samordnande", "!tavla länk")
    assert answer.startswith("Länk nr 1 har skickats till dig i ett direktmeddelande")
    assert "#link=" not in answer, "the link itself is never in the room"
    private = await wait_for(lambda: _link_in(world, app))
    secret = re.search(r"#link=([\w-]+)", private).group(1)  # type: ignore[union-attr]
    assert private.startswith("Länk nr 1 till lägestavlan för Regionalt samordnande forum")

    status, opened = await board.session({"link": secret})
    assert status == 200 and (await board.state(opened["token"]))[1]["forum"] == "samordnande"
    listed = await command(world, "tib", "samordnande", "!tavla länkar")
    assert "nr 1, skapad av" in listed

    stream = await events(board, opened["token"])
    try:
        await stream.until(lambda s: s["forum"] == "samordnande")
        assert "återkallad" in await command(world, "tib", "samordnande", "!tavla återkalla 1")
        await wait_for(lambda: _ended(stream))
    finally:
        stream.close()
    assert await board.session({"link": secret}) == (403, {"error": (
        "Länken gäller inte längre (den har gått ut eller återkallats). Be en sammankallande om en ny med "
        "!tavla länk.")})
    assert await board.state(opened["token"]) == (401, {"error": "Logga in för att se lägestavlan."}), \
        "the revoked link's session ends with it"
    assert "Inga giltiga länkar" in await command(world, "tib", "samordnande", "!tavla länkar")

    assert "Länk nr 2" in await command(world, "tib", "samordnande", "!tavla länk 1h")
    second = await wait_for(lambda: _link_in(world, app, 2))
    secret = re.search(r"#link=([\w-]+)", second).group(1)  # type: ignore[union-attr]
    assert (await board.session({"link": secret}))[0] == 200
    board.clock.advance(timedelta(hours=1, minutes=1))
    assert (await board.session({"link": secret}))[0] == 403, "expired"
    assert "giltighetstiden 8d" in await command(world, "tib", "samordnande", "!tavla länk 8d")
    assert "Det finns ingen länk nr 9" in await command(world, "tib", "samordnande", "!tavla återkalla 9")


async def _link_in(world: World, app: App, number: int = 1) -> str | None:
    return next((b for b in await direct_bodies(world, app, "tib") if b.startswith(f"Länk nr {number} ")), None)


async def _ended(stream: Stream) -> bool:
    return stream.ended
