"""The crisis room's live board against the real Synapse: `!tavla` adds it to the forum's room as a widget, a
member's OpenID token (as the Widget API gets it from the homeserver) opens a session and the forum's state,
changes arrive as server-sent events, and anyone else (no token, a forged token, a stranger, a token from a
server at an internal address, an expired or revoked link) gets a sentence and nothing else."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from pgserver import free_port
from support import World, bot_said, command, direct_bodies, react, room_events, room_state, settle, unique, wait_for
from test_rooms_move import upgrade

from bot.app import App
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.state import convocations
from bot.state.models import SmsMessage


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


async def _link(board: Board, number: int, valid: str = "1h") -> str:
    world, app = board.world, board.app
    assert app is not None
    assert f"Länk nr {number}" in await command(world, "tib", "samordnande", f"!tavla länk {valid}")
    private = await wait_for(lambda: _link_in(world, app, number))
    return re.search(r"#link=([\w-]+)", private).group(1)  # type: ignore[union-attr]


async def _member(board: Board, who: str) -> str:
    status, opened = await board.session({"openid": await board.openid(who), "room_id": board.world.rooms[
        "samordnande"]})
    assert status == 200, opened
    return str(opened["token"])


async def test_revoking_a_link_ends_every_session_it_opened_streaming_or_idle(board: Board) -> None:
    """`!tavla återkalla` ends the idle sessions of the link as well as the streaming one; another link's and a
    member's go on."""
    secret, other = await _link(board, 1), await _link(board, 2)
    streaming, idle = [(await board.session({"link": secret}))[1]["token"] for _ in range(2)]
    beside = (await board.session({"link": other}))[1]["token"]
    member = await _member(board, "sos")
    stream, kept = await events(board, streaming), await events(board, beside)
    try:
        await stream.until(lambda s: s["forum"] == "samordnande")
        assert "återkallad" in await command(board.world, "tib", "samordnande", "!tavla återkalla 1")
        await wait_for(lambda: _ended(stream), 10)
        for token in (streaming, idle):
            assert await board.state(token) == (401, {"error": "Logga in för att se lägestavlan."})
        assert (await board.state(beside))[0] == 200 and (await board.state(member))[0] == 200
        assert not kept.ended, "the other link's stream goes on"
    finally:
        stream.close()
        kept.close()


async def test_a_links_sessions_end_when_it_expires_streaming_or_idle(board: Board) -> None:
    """A session never outlives its link: at the link's expiry the stream ends and every request is refused,
    within seconds of the clock passing it (here the clock is moved)."""
    secret = await _link(board, 1, "10m")
    streaming, idle = [(await board.session({"link": secret}))[1]["token"] for _ in range(2)]
    member = await _member(board, "sos")
    stream = await events(board, streaming)
    try:
        await stream.until(lambda s: s["forum"] == "samordnande")
        board.clock.advance(timedelta(minutes=9))
        await asyncio.sleep(0.3)
        assert not stream.ended and (await board.state(idle))[0] == 200, "not before its time"
        board.clock.advance(timedelta(minutes=2))
        await wait_for(lambda: _ended(stream), 10)
        assert (await board.state(idle))[0] == 401 and (await board.state(streaming))[0] == 401
        assert (await board.session({"link": secret}))[0] == 403
        assert (await board.state(member))[0] == 200, "a member's session has its own hour"
    finally:
        stream.close()


async def test_leaving_being_kicked_or_banned_ends_a_members_sessions_and_streams(board: Board) -> None:
    """Each membership change ends that person's sessions (the streaming and the idle one) within 10 s, and only
    theirs; the stream of someone who left never carries the activation; a member kicked and invited back gets a
    new session, while the old ones stay dead; a banned member gets none."""
    world = board.world
    room, admin = world.rooms["samordnande"], world.clients["admin"]
    tokens = {who: (await _member(board, who), await _member(board, who)) for who in ("sos", "nacka", "rsib", "tib")}
    wall = (await board.session({"link": await _link(board, 1)}))[1]["token"]
    streams = {who: await events(board, tokens[who][0]) for who in tokens}
    try:
        for stream in streams.values():
            await stream.until(lambda s: s["forum"] == "samordnande")
        await world.clients["sos"].room_leave(room)
        await admin.room_kick(room, world.people["nacka"].user_id, "test")
        await admin.room_ban(room, world.people["rsib"].user_id, "test")
        for who in ("sos", "nacka", "rsib"):
            await wait_for(lambda who=who: _ended(streams[who]), 10)
            for token in tokens[who]:
                assert await board.state(token) == (401, {"error": "Logga in för att se lägestavlan."}), who
        await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
        await streams["tib"].until(lambda s: s["active"])
        for who in ("sos", "nacka", "rsib"):
            assert not any(s["active"] for s in streams[who].states), f"{who} saw the activation after leaving"
        assert not streams["tib"].ended and (await board.state(tokens["tib"][1]))[0] == 200, "the others go on"
        assert (await board.state(wall))[0] == 200, "a wall screen's link does not stand on anyone's membership"

        await admin.room_invite(room, world.people["nacka"].user_id)
        await world.clients["nacka"].join(room)
        again = await wait_for(lambda: _session_now(board, "nacka"), 10)
        assert (await board.state(again))[1]["active"], "back in the room, back on the board"
        assert [(await board.state(t))[0] for t in tokens["nacka"]] == [401, 401], "the old sessions stay ended"
        assert (await board.session({"openid": await board.openid("rsib"), "room_id": room}))[0] == 403
    finally:
        for stream in streams.values():
            stream.close()


@pytest.fixture
async def board_by_id(world: World) -> AsyncIterator[Board]:
    """The board, with the forum's room named in the configuration by its id (an upgrade leaves the old id there)."""
    async with aiohttp.ClientSession() as http:
        found = Board(world, f"http://127.0.0.1:{free_port()}", FakeClock(datetime.now(UTC)), http)

        def by_id(data: dict[str, Any]) -> None:
            data["board"] = {"listen": found.url.removeprefix("http://"), "public_url": found.url}
            next(f for f in data["forum"] if f["id"] == "samordnande")["room"] = world.rooms["samordnande"]

        found.app = await world.start_bot(world.settings(by_id), found.clock)
        yield found
        await world.stop_bots()


async def test_kicked_from_the_upgraded_room_ends_the_session_opened_in_the_old_one(board_by_id: Board) -> None:
    """When the forum's room is upgraded, the sessions its old id granted end with their streams; the page asks
    again from the old room's widget and gets a session that stands on the new room, which a kick from the new
    room ends within 10 s; a convener who leaves the old room for the new one keeps their links."""
    board = board_by_id
    world = board.world
    old, admin = world.rooms["samordnande"], world.clients["admin"]
    secret = await _link(board, 1)
    before = await _member(board, "nacka")
    stream = await events(board, before)
    try:
        await stream.until(lambda s: s["forum"] == "samordnande")
        await admin.room_put_state(old, "m.room.join_rules", {"join_rule": "public"})
        new = await upgrade(world, old)
        await world.clients["nacka"].join(new)
        await world.clients["tib"].join(new)
        await world.clients["tib"].room_leave(old)  # the convener moves along: their link stays
        await wait_for(lambda: _ended(stream), 10)
        assert (await board.state(before))[0] == 401, "the old room's session ended with the move"
    finally:
        stream.close()
    after = await wait_for(lambda: _session_now(board, "nacka"), 15)  # asked with the old room's id
    stream = await events(board, after)
    try:
        await stream.until(lambda s: s["forum"] == "samordnande")
        await admin.room_kick(new, world.people["nacka"].user_id, "out")
        await wait_for(lambda: _ended(stream), 10)

        async def refused() -> bool:
            return (await board.state(after))[0] == 401

        assert await wait_for(refused, 10)
        assert (await board.session({"openid": await board.openid("nacka"), "room_id": old}))[0] == 403, \
            "still in the old room, but out of the forum's room"
        assert (await board.session({"link": secret}))[0] == 200, "leaving the old room revokes nothing"
    finally:
        stream.close()


async def test_a_conveners_links_are_revoked_when_they_are_kicked_from_the_forums_room(board: Board) -> None:
    """A convener made links and is then kicked: the links are revoked, the screen they opened goes dark within
    10 s, no new session opens on them, and the log room is told once, in one sentence, naming the forum, the
    convener and how many links; a member's board goes on."""
    world = board.world
    room, tib = world.rooms["samordnande"], world.people["tib"].user_id
    secret, other = await _link(board, 1, "7d"), await _link(board, 2, "1h")
    wall = (await board.session({"link": secret}))[1]["token"]
    member = await _member(board, "sos")
    stream = await events(board, wall)
    try:
        await stream.until(lambda s: s["forum"] == "samordnande")
        await world.clients["admin"].room_kick(room, tib, "out")
        await wait_for(lambda: _ended(stream), 10)
    finally:
        stream.close()
    for made in (secret, other):
        assert (await board.session({"link": made}))[0] == 403
    assert (await board.state(wall))[0] == 401 and (await board.state(member))[0] == 200
    told = await wait_for(lambda: bot_said(world, "logg", "länkar till lägestavlan"))
    assert told[0]["content"]["body"] == (
        "2 länkar till lägestavlan för Regionalt samordnande forum har återkallats eftersom den som skapade dem, "
        f"{tib}, inte längre är med i forumets rum.")
    assert told[0]["content"]["msgtype"] == "m.notice"
    assert board.app is not None
    await settle(board.app)
    assert len(await bot_said(world, "logg", "länkar till lägestavlan")) == 1, "told once"


async def _session_now(board: Board, who: str) -> str | None:
    status, opened = await board.session({"openid": await board.openid(who), "room_id": board.world.rooms[
        "samordnande"]})
    return str(opened["token"]) if status == 200 else None


async def test_a_bad_body_is_a_sentence_and_every_answer_says_nosniff(board: Board,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A body nested 60,000 deep, one that is too large, or not JSON at all gets 400 and the sentence, never a
    traceback in the log; the page, its script and style, the API's answers and refusals all carry nosniff."""
    refused = {"error": "Begäran kunde inte läsas."}
    for body in (b"[" * 60_000 + b"]" * 60_000, b'{"link": "' + b"x" * 100_000 + b'"}', b"\xff\xfe", b"{"):
        async with board.http.post(f"{board.url}/board/api/session", data=body,
                                   headers={"Content-Type": "application/json"}) as answer:
            assert (answer.status, await answer.json()) == (400, refused)
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "no traceback"
    token = (await board.session({"link": await _link(board, 1)}))[1]["token"]
    for path, headers in (("/board/", {}), ("/board/static/board.js", {}), ("/board/static/board.css", {}),
                          ("/board/static/nothing.js", {}), ("/board/api/state", {}),
                          ("/board/api/state", {"Authorization": f"Bearer {token}"})):
        async with board.http.get(f"{board.url}{path}", headers=headers) as answer:
            assert answer.headers.get("X-Content-Type-Options") == "nosniff", path
            assert "frame-ancestors *" in answer.headers["Content-Security-Policy"], path
    stream = await events(board, token)
    try:
        assert stream.response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        stream.close()


async def test_a_lone_surrogate_in_any_field_is_a_400_not_a_500(board: Board,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Valid JSON that carries a lone surrogate ("\\ud800") in the link, the room, the token or the server name
    gets 400 and the sentence, never a 500 with a traceback in the log."""
    room = board.world.rooms["samordnande"]
    bodies = (b'{"link": "\\ud800"}', b'{"link": "ok", "\\udfff": 1}',
              b'{"openid": {"access_token": "\\ud800", "matrix_server_name": "localhost"}, "room_id": "%s"}'
              % room.encode(),
              b'{"openid": {"access_token": "t", "matrix_server_name": "\\udc00x"}, "room_id": "%s"}' % room.encode(),
              b'{"openid": {"access_token": "t", "matrix_server_name": "localhost"}, "room_id": "!\\ud800"}')
    for body in bodies:
        async with board.http.post(f"{board.url}/board/api/session", data=body,
                                   headers={"Content-Type": "application/json"}) as answer:
            status, nosniff = answer.status, answer.headers.get("X-Content-Type-Options")
            assert (status, nosniff, await answer.json()) == (400, "nosniff", {"error": "Begäran kunde inte läsas."})
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "no traceback"


async def test_limits_refuse_with_a_sentence_and_log_it_once(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Two sessions a link and a person, one stream a session, eight links and eight tokens checked a minute from
    one address: beyond them the page gets
    a sentence and the log one line per limit, however often it is tried; an idle session gives way to a new
    one, a streaming one never; the minute past, checks are taken again."""
    async with aiohttp.ClientSession() as http:
        board = Board(world, f"http://127.0.0.1:{free_port()}", FakeClock(datetime.now(UTC)), http)
        board.app = await world.start_bot(world.settings(lambda data: data.update(board={
            "listen": board.url.removeprefix("http://"), "public_url": board.url, "sessions_per_link": 2,
            "sessions_per_user": 2, "streams_per_session": 1, "checks_per_minute": 8,
            "element_origins": ["https://element.example.org"]})), board.clock)
        try:
            secret = await _link(board, 1)
            first, second = [(await board.session({"link": secret}))[1]["token"] for _ in range(2)]
            third = (await board.session({"link": secret}))[1]["token"]
            assert (await board.state(first))[0] == 401, "the oldest idle session gave way"
            streams = [await events(board, second), await events(board, third)]
            full = {"error": "Länken används redan på så många skärmar som tillåts. Stäng tavlan på en annan skärm, "
                             "eller be en sammankallande om en ny länk med !tavla länk."}
            assert await board.session({"link": secret}) == (429, full)
            assert await board.session({"link": secret}) == (429, full)
            async with board.http.get(f"{board.url}/board/api/events",
                                      headers={"Authorization": f"Bearer {second}"}) as answer:
                assert answer.status == 429 and (await answer.json())["error"].startswith(
                    "Lägestavlan är redan öppen i för många flikar")
            member = await _member(board, "sos")
            await _member(board, "sos")
            streams.append(await events(board, member))
            assert (await board.session({"openid": await board.openid("sos"), "room_id": world.rooms[
                "samordnande"]}))[0] == 200, "the idle one gave way"
            for _ in range(3):
                assert await board.session({"link": secret}) == (429, full)
            checks = {"error": "För många inloggningar till lägestavlan just nu. Försök igen om en minut."}
            assert await board.session({"link": secret}) == (429, checks), "the ninth link checked in the minute"
            assert await board.session({"link": "nonsense"}) == (429, checks)
            assert (await board.session({"openid": await board.openid("tib"), "room_id": world.rooms[
                "samordnande"]}))[0] == 200, "tokens have their own budget"
            board.clock.advance(timedelta(minutes=1, seconds=1))
            assert (await board.session({"link": "nonsense"}))[0] == 403, "a new minute"
            lines = [r.getMessage() for r in caplog.records if r.name == "bot.board.server" and "reached" in
                     r.getMessage()]
            assert sorted(line.split()[1] for line in lines) == [
                "link_checks_per_minute", "sessions_per_link", "streams_per_session"], lines
            async with board.http.get(f"{board.url}/board/") as answer:
                assert "frame-ancestors https://element.example.org" in answer.headers["Content-Security-Policy"]
            for stream in streams:
                stream.close()
        finally:
            await world.stop_bots()


async def test_a_flood_of_bad_links_never_refuses_a_member(board: Board) -> None:
    """Sixty bad links in a minute spend that address's link checks only: a member's token from the same address
    is still checked and answered."""
    checks = {"error": "För många inloggningar till lägestavlan just nu. Försök igen om en minut."}
    for _ in range(60):
        assert (await board.session({"link": "nonsense"}))[0] == 403
    assert await board.session({"link": "nonsense"}) == (429, checks), "the link budget is spent"
    status, answer = await board.session({"openid": await board.openid("sos"),
                                          "room_id": board.world.rooms["samordnande"]})
    assert status == 200, (status, answer)


async def test_the_board_takes_its_own_place_in_the_layout_and_leaves_the_others(board: Board) -> None:
    """`!tavla` adds its widget to the room's layout beside the widgets already there; `!tavla av` removes only
    its own, and the others stay where they were."""
    world = board.world
    room, admin = world.rooms["samordnande"], world.clients["admin"]
    other = {"container": "right", "index": 1, "width": 30, "height": 50}
    await admin.room_put_state(room, "io.element.widgets.layout", {"widgets": {"jitsi": other}})
    assert "tillagd" in await command(world, "tib", "samordnande", "!tavla")

    async def layout(count: int) -> dict[str, Any] | None:
        found = await room_state(world.clients["tib"], room, "io.element.widgets.layout")
        return found if len(found.get("widgets", {})) == count else None

    both = await wait_for(lambda: layout(2))
    assert both["widgets"]["jitsi"] == other and both["widgets"]["samverkan-board-samordnande"]["container"] == "top"
    assert "borttagen" in await command(world, "tib", "samordnande", "!tavla av")
    assert (await wait_for(lambda: layout(1)))["widgets"] == {"jitsi": other}


async def test_the_board_says_who_is_missing_from_which_organisation_and_what_is_done_about_it(world: World) -> None:
    """Each function with its organisation and its people by name (never a Matrix id), their SMS, since when they
    are waited for and the deputy convened; during the activation its own next conference, never the weekly
    meeting; actions with their due time, overdue ones marked."""

    def deputy(data: dict[str, Any]) -> None:
        data["function"].append({"id": "sos-stf", "organisation": "sos", "name": "Ställföreträdande vakthavande",
                                 "holders": [world.people["outsider"].user_id]})
        next(f for f in data["function"] if f["id"] == "sos-vakthavande")["deputies"] = ["sos-stf"]

    async with aiohttp.ClientSession() as http:
        board = Board(world, f"http://127.0.0.1:{free_port()}", FakeClock(datetime.now(UTC)), http)
        await world.clients["sos"].set_displayname("Sara Svensson")
        board.app = app = await world.start_bot(world.settings(lambda data: (deputy(data), data.update(board={
            "listen": board.url.removeprefix("http://"), "public_url": board.url}))), board.clock)
        try:
            token = await _member(board, "tib")
            stream = await events(board, token)
            ordinary = await stream.until(lambda s: s["forum"] == "samordnande")
            assert ordinary["next"]["name"] == "Veckomöte", "in ordinary mode, the weekly meeting"
            await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
            active = await stream.until(lambda s: s["active"] and s["convocation"])
            assert active["next"] is None, "during an activation never the weekly meeting"
            sos = _row(active, "Vakthavande, SOS Alarm")
            assert sos["organisation"] == "SOS Alarm" and sos["state"] == "waiting"
            assert sos["holders"] == [{"name": "Sara Svensson", "sms": None}]
            assert datetime.fromisoformat(sos["convened_at"]) <= board.clock.now()
            assert sos["deputies"] == [], "no deputy before the time to acknowledge has passed"
            assert {p["organisation"] for p in active["convocation"]["people"]} == {
                "Länsstyrelsen Stockholm", "SOS Alarm", "Nacka kommun"}

            convocation = await _convocation_id(app)
            delivered = board.clock.now()
            await app.db.write(lambda s: _add(s, SmsMessage(
                key="test", kind="convocation", user_id=world.people["sos"].user_id, number="sealed", lookup="x",
                text="Du kallas", ref=f"conv:{convocation}", state="delivered", created_at=delivered,
                not_before=delivered, delivered_at=delivered)))
            assert app.board is not None
            app.board.changed()
            texted = await stream.until(lambda s: _row(s, "Vakthavande, SOS Alarm")["holders"][0]["sms"])
            local = delivered.astimezone(ZoneInfo("Europe/Stockholm"))
            assert _row(texted, "Vakthavande, SOS Alarm")["holders"][0]["sms"] == f"SMS levererat {local:%H:%M}"

            board.clock.advance(timedelta(minutes=5, seconds=1))
            await app.timers.fire_due()
            escalated = await stream.until(lambda s: _row(s, "Vakthavande, SOS Alarm")["deputies"])
            assert _row(escalated, "Vakthavande, SOS Alarm")["deputies"] == [
                {"function": "Ställföreträdande vakthavande", "organisation": "SOS Alarm", "state": "waiting"}]
            assert _row(escalated, "Ställföreträdande vakthavande")["deputy_for"] == "Vakthavande, SOS Alarm"

            await command(world, "tib", "samordnande", "!åtgärd sos-vakthavande samla in lägesbilder senast om 1h")
            due = await stream.until(lambda s: s["actions"])
            assert [(a["owner"], a["organisation"], a["overdue"]) for a in due["actions"]] == [
                ("Vakthavande, SOS Alarm", "SOS Alarm", False)]
            assert due["actions"][0]["due"], "the due time is shown"
            board.clock.advance(timedelta(hours=1, minutes=1))
            await wait_for(lambda: _ended(stream), 10)  # the session's hour is over: the page asks for a new one
            stream.close()
            stream = await events(board, await _member(board, "tib"))
            late = await stream.until(lambda s: s["actions"] and s["actions"][0]["overdue"])
            assert [a["overdue"] for a in late["actions"]] == [True]

            assert "Rytm för" in await command(world, "tib", "samordnande", "!rytm samordnande 3h")
            planned = await stream.until(lambda s: s["next"] is not None)
            starts = (board.clock.now() + timedelta(hours=3)).astimezone(ZoneInfo("Europe/Stockholm"))
            assert planned["next"]["name"] == "Konferens" and planned["next"]["when"].endswith(f"{starts:%H:%M}")
            assert planned["convocation"]["title"] == active["convocation"]["title"], \
                "the planned conference does not hide who was reached for the one in hand"
            assert "@" not in json.dumps(planned["convocation"]), "people by name, never by Matrix id"
            stream.close()
        finally:
            await world.stop_bots()


def _row(state: dict[str, Any], function: str) -> dict[str, Any]:
    """The function's line on the board (an empty one before the convocation)."""
    people = state["convocation"]["people"] if state["convocation"] else []
    return next((p for p in people if p["function"] == function), {"holders": [{"sms": None}], "deputies": []})


async def _convocation_id(app: App) -> int:
    async with app.db.session() as session:
        found = await convocations.latest(session, "samordnande")
    assert found is not None and found.id is not None
    return found.id


async def _add(session: Any, row: Any) -> None:
    session.add(row)
