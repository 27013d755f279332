"""Threads and direct rooms as Element uses them, on the real homeserver."""

from __future__ import annotations

from typing import Any

import aiohttp
from nio import RoomCreateResponse, RoomSendResponse
from sqlmodel import col, select
from support import World, command, direct_messages, direct_room, react, room_events, room_state, settle, wait_for

from bot.app import App
from bot.state import repo
from bot.state.models import Summons


async def in_thread(world: World, who: str, room: str, root: str, body: str) -> str:
    content = {"msgtype": "m.text", "body": body,
               "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                                "m.in_reply_to": {"event_id": root}}}
    answer = await world.clients[who].room_send(world.rooms[room], "m.room.message", content)
    assert isinstance(answer, RoomSendResponse), answer
    return answer.event_id


def bot_messages(world: World, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]


async def test_a_command_in_a_thread_is_answered_there_and_convocations_stay_in_the_timeline(world: World) -> None:
    app = await world.start_bot()
    room, client = world.rooms["samordnande"], world.clients["tib"]
    root = (await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "Läget i norra länet"}))
    root_id = root.event_id  # type: ignore[union-attr]
    asked = await in_thread(world, "tib", "samordnande", root_id, "!kalla samordnande extra avstämning")

    async def answered() -> dict[str, Any] | None:
        for event in bot_messages(world, await room_events(client, room)):
            relates = event["content"].get("m.relates_to", {})
            if relates.get("m.in_reply_to", {}).get("event_id") == asked:
                return event
        return None

    answer = await wait_for(answered)
    assert answer["content"]["m.relates_to"] == {"rel_type": "m.thread", "event_id": root_id,
                                                 "is_falling_back": False, "m.in_reply_to": {"event_id": asked}}
    await settle(app)
    pings = [e for e in bot_messages(world, await room_events(client, room)) if e["content"]["msgtype"] == "m.text"]
    assert len(pings) == 1, "one convocation ping"
    assert "m.relates_to" not in pings[0]["content"], "the convocation stays in the main timeline"

    await react(world.clients["sos"], room, pings[0]["event_id"])
    await wait_for(lambda: acknowledged_by(app, "sos-vakthavande"))
    assert not await acknowledged_by(app, "lst-tib"), "convened too, but did not react"


async def acknowledged_by(app: App, function_id: str) -> bool:
    async with app.db.session() as session:
        rows = (await session.exec(select(Summons).where(Summons.function_id == function_id,
                                                         col(Summons.ack_at).is_not(None)))).all()
    return bool(rows)


async def direct_account_data(world: World) -> dict[str, list[str]]:
    async with aiohttp.ClientSession() as http, http.get(
            f"{world.hs.url}/_matrix/client/v3/user/{world.bot.user_id}/account_data/m.direct",
            headers={"Authorization": f"Bearer {world.bot.access_token}"}) as answer:
        body: dict[str, list[str]] = await answer.json() if answer.status == 200 else {}
    return body


async def test_direct_rooms_are_marked_direct_and_a_left_room_is_replaced_before_the_next_convocation(
        world: World) -> None:
    app = await world.start_bot()
    sos = world.people["sos"]
    first = await direct_room(app, sos)

    async def marked(rooms: list[str]) -> bool:  # written in the background, after the room is stored
        return (await direct_account_data(world)).get(sos.user_id) == rooms

    await wait_for(lambda: marked([first]))
    await world.clients["sos"].join(first)
    await world.clients["sos"].room_leave(first)

    async def forgotten() -> bool:
        async with app.db.session() as session:
            return await repo.get_value(session, f"dm:{sos.user_id}") != first

    await wait_for(forgotten)
    await wait_for(lambda: marked([]))

    answer = await world.clients["tib"].room_send(world.rooms["samordnande"], "m.room.message",
                                                  {"msgtype": "m.text", "body": "!kalla samordnande avstämning"})
    assert isinstance(answer, RoomSendResponse)
    messages = await direct_messages(world, app, "sos")
    second = messages[0]["room_id"]
    assert second != first and "avstämning" in messages[0]["content"]["body"]
    assert len(messages) == 1, "one convocation, in the new room"
    await wait_for(lambda: marked([second]))


async def test_a_direct_room_a_person_opens_is_accepted_and_used_and_a_strangers_is_declined(world: World) -> None:
    app = await world.start_bot(world.settings(lambda d: d["matrix"].update(open_direct_rooms=False)))
    created = await world.clients["sos"].room_create(is_direct=True, invite=[world.bot.user_id])
    assert isinstance(created, RoomCreateResponse)
    stranger = await world.clients["outsider"].room_create(is_direct=True, invite=[world.bot.user_id])
    assert isinstance(stranger, RoomCreateResponse)

    async def adopted() -> str | None:
        async with app.db.session() as session:
            return await repo.get_value(session, f"dm:{world.people['sos'].user_id}")

    assert await wait_for(adopted) == created.room_id
    answer = await world.clients["tib"].room_send(world.rooms["samordnande"], "m.room.message",
                                                  {"msgtype": "m.text", "body": "!kalla samordnande läget"})
    assert isinstance(answer, RoomSendResponse)
    await settle(app)
    messages = await direct_messages(world, app, "sos")
    assert [m["room_id"] for m in messages] == [created.room_id] and "läget" in messages[0]["content"]["body"]

    async def declined() -> bool:
        member = await room_state(world.clients["outsider"], stranger.room_id, "m.room.member", world.bot.user_id)
        return member.get("membership") == "leave"

    await wait_for(declined)
    async with app.db.session() as session:
        assert await repo.get_value(session, f"dm:{world.people['outsider'].user_id}") is None


async def test_direct_rooms_opened_together_by_a_convocation_are_each_marked_direct_once(world: World) -> None:
    def cold(data: dict[str, Any]) -> None:
        data["matrix"]["open_direct_rooms"] = False

    app = await world.start_bot(world.settings(cold))
    assert await direct_account_data(world) == {}, "no direct room before the convocation"
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await settle(app)
    convened = ("tib", "rsib", "sos", "nacka")
    rooms = {world.people[who].user_id: await direct_room(app, world.people[who]) for who in convened}
    assert await direct_account_data(world) == {user: [room] for user, room in rooms.items()}
