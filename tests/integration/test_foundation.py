"""The bot on a real homeserver: help, status, unknown commands, strangers, restarts."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
from nio import RoomRedactResponse, RoomSendError, RoomSendResponse
from support import World, command, room_events, send_text, wait_for, wait_for_reply

from bot.ops.health import check
from bot.state import forums
from bot.state.models import OutboxMessage


async def test_help_is_a_notice_in_reply_to_the_command(world: World) -> None:
    """!hjälp lists the commands with usage, quietly (m.notice), as a reply."""
    await world.start_bot()
    room = world.rooms["samordnande"]
    event_id = await send_text(world.clients["tib"], room, "!hjälp")
    reply = await wait_for_reply(world.clients["tib"], room, event_id)
    content = reply["content"]
    assert reply["sender"] == world.bot.user_id
    assert content["msgtype"] == "m.notice"
    lines = content["body"].splitlines()
    assert lines[0] == "De vanligaste kommandona:" and len([x for x in lines if x.startswith("• ")]) == 8
    assert "• !status [forum]" in "\n".join(lines) and "!avslå" not in content["body"]
    assert lines[-1].startswith("Alla kommandon: !hjälp alla")
    assert len(content["body"]) < 1000, "one phone screen"
    assert content["m.mentions"] == {}
    everything = await command(world, "tib", "samordnande", "!hjälp alla")
    assert "!avslå" in everything and "!hjälp [kommando]" in everything
    assert "!ladda-om" not in everything, "an administrator's command, and the TiB is not one"
    assert "!ladda-om" in await command(world, "admin", "samordnande", "!hjälp alla")


async def test_help_for_one_command_by_its_english_name(world: World) -> None:
    """!help status explains one command; names match without diacritics too."""
    await world.start_bot()
    room = world.rooms["samordnande"]
    event_id = await send_text(world.clients["sos"], room, "!HJALP status")
    reply = await wait_for_reply(world.clients["sos"], room, event_id)
    assert reply["content"]["body"].startswith("!status [forum]")


async def test_status_lists_every_forum_with_mode_chair_and_next_meeting(world: World) -> None:
    """!status shows both forums, ordinary mode, the chair's function and the weekly meeting."""
    await world.start_bot()
    body = await command(world, "nacka", "samordnande", "!status")
    assert "Regionalt samordnande forum" in body
    assert "Regionalt inriktande forum" in body
    assert "ordinarie läge" in body
    assert "Tjänsteman i beredskap (TiB)" in body
    assert "Veckomöte" in body and "10:00" in body


async def test_unknown_command_gets_a_suggestion(world: World) -> None:
    """A typo is answered with the closest command."""
    await world.start_bot()
    body = await command(world, "tib", "samordnande", "!stauts")
    assert "!stauts" in body and "Menade du !status?" in body


async def test_unknown_forum_gets_usage_and_did_you_mean(world: World) -> None:
    """An unknown argument name gets the closest names and the usage."""
    await world.start_bot()
    body = await command(world, "tib", "samordnande", "!status samordnade")
    assert "Okänt forum: samordnade." in body
    assert "samordnande" in body
    assert "Användning: !status [forum]" in body


async def test_sender_outside_the_configuration_is_refused(world: World) -> None:
    """Someone who holds no function gets a polite refusal and no status."""
    await world.start_bot()
    body = await command(world, "outsider", "samordnande", "!status")
    assert "är inte registrerad för någon funktion" in body
    assert "Regionalt samordnande forum" not in body


async def devices(world: World, token: str) -> list[str]:
    async with aiohttp.ClientSession() as http, http.get(f"{world.hs.url}/_matrix/client/v3/devices",
                        headers={"Authorization": f"Bearer {token}"}) as answer:
        return sorted(d["device_id"] for d in (await answer.json())["devices"])


async def test_restart_does_not_answer_again_or_make_a_new_device(world: World) -> None:
    """After a restart on the same database: same device, old commands not answered twice."""
    app = await world.start_bot()
    device = app.matrix.device_id
    devices_before = await devices(world, app.matrix.client.access_token)
    room = world.rooms["samordnande"]
    client = world.clients["tib"]
    first = await send_text(client, room, "!status")
    await wait_for_reply(client, room, first)
    await world.stop_bots()

    app = await world.start_bot()
    assert app.matrix.device_id == device
    second = await send_text(client, room, "!hjälp")
    await wait_for_reply(client, room, second)
    events = await room_events(client, room)
    replies_to_first = [e for e in events
                        if e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == first]
    assert len(replies_to_first) == 1

    assert device in devices_before
    assert await devices(world, app.matrix.client.access_token) == devices_before


async def test_commands_sent_while_the_bot_is_down_are_answered_once(world: World) -> None:
    """A command that arrives during downtime is answered after the restart, exactly once."""
    await world.start_bot()
    await world.stop_bots()
    room = world.rooms["samordnande"]
    client = world.clients["sos"]
    event_id = await send_text(client, room, "!status")
    await world.start_bot()
    await wait_for_reply(client, room, event_id)
    await world.stop_bots()
    await world.start_bot()
    marker = await send_text(client, room, "!hjälp")
    await wait_for_reply(client, room, marker)
    events = await room_events(client, room)
    assert sum(1 for e in events
               if e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id) == 1


async def test_bot_reconnects_by_itself_after_a_homeserver_restart(world: World) -> None:
    """The homeserver goes away and comes back: the bot answers again without being touched."""
    await world.start_bot()
    world.hs.stop()
    await world.hs.start_async()
    room = world.rooms["samordnande"]
    event_id = await send_text(world.clients["tib"], room, "!status")
    reply = await wait_for_reply(world.clients["tib"], room, event_id, timeout=60)
    assert "Regionalt samordnande forum" in reply["content"]["body"]


async def test_health_is_ok_while_the_bot_syncs(world: World) -> None:
    """`python -m bot health` answers from the running bot's database."""
    settings = world.settings()
    assert not (await check(settings))[0]  # nothing has run yet
    await world.start_bot(settings)
    healthy, why = await check(settings)
    assert healthy and why.startswith("ok: last successful sync")


async def test_edits_redactions_and_malformed_events_are_ignored_and_the_bot_goes_on(world: World) -> None:
    """Whatever a client puts in an event, the bot neither crashes nor answers twice."""
    app = await world.start_bot()
    room = world.rooms["samordnande"]
    tib = world.clients["tib"]
    command_id = await send_text(tib, room, "!status")
    await wait_for_reply(tib, room, command_id)
    strange: list[tuple[str, dict[str, object]]] = [
        ("m.room.message", {"msgtype": "m.text"}),  # no body
        ("m.room.message", {"msgtype": "m.text", "body": 42}),
        ("m.room.message", {"msgtype": "m.text", "body": ["!status"]}),
        ("m.room.message", {"msgtype": "m.text", "body": "!status", "format": "org.matrix.custom.html",
                            "formatted_body": {"not": "a string"}}),
        ("m.room.message", {"msgtype": "se.example.unknown", "body": "!status"}),
        ("m.room.message", {"body": "!status"}),  # no msgtype
        ("m.room.message", {"msgtype": "m.text", "body": "!status " + "å" * 25_000}),  # near the event size limit
        ("m.room.message", {"msgtype": "m.text", "body": "* !aktivera samordnande storm",  # an edit of a command
                            "m.new_content": {"msgtype": "m.text", "body": "!aktivera samordnande storm"},
                            "m.relates_to": {"rel_type": "m.replace", "event_id": command_id}}),
        ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": command_id, "key": 5}}),
        ("m.reaction", {"m.relates_to": "not an object"}),
        ("se.example.custom", {"body": "!status"}),
    ]
    accepted = 0
    for event_type, content in strange:
        answer = await tib.room_send(room, event_type, content)
        # Synapse itself refuses some shapes from its own users (no body, a number as body, too
        # large); those it lets through must not disturb the bot.
        assert isinstance(answer, RoomSendResponse | RoomSendError), answer
        accepted += isinstance(answer, RoomSendResponse)
    assert accepted >= 6
    redacted = await tib.room_redact(room, command_id, reason="fel rum")
    assert isinstance(redacted, RoomRedactResponse), redacted

    after = await send_text(tib, room, "!hjälp status")
    await wait_for_reply(tib, room, after)  # still answering, in order
    replies = [e for e in await room_events(tib, room, 200)
               if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]
    answered = [((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id") for e in replies]
    assert answered.count(command_id) == 1 and answered.count(after) == 1
    too_long = [e for e in replies if "Meddelandet är för långt" in e["content"]["body"]]
    assert len(too_long) == 1, "the command past the size limit gets the limit, once"
    assert len(replies) == 3  # nothing else was answered; the edit did not activate anything
    async with app.db.session() as session:
        state = await forums.forum_state(session, "samordnande")
    assert state.mode == "ordinary"


async def _read_by_bot(world: World, room: str) -> dict[str, int]:
    """The events of a room the bot has marked read, as a member's client sees them, with when the homeserver
    took each receipt (milliseconds)."""
    # A filter of its own each time: Synapse answers an identical sync request from its cache for a while.
    query = {"filter": json.dumps({"room": {"rooms": [room], "timeline": {"limit": 1}},
                                   "presence": {"not_types": [uuid.uuid4().hex]}}), "timeout": "0"}
    async with aiohttp.ClientSession() as http, http.get(
            f"{world.hs.url}/_matrix/client/v3/sync", params=query,
            headers={"Authorization": f"Bearer {world.people['sos'].access_token}"}) as answer:
        body = await answer.json()
    joined = body.get("rooms", {}).get("join", {}).get(room, {})
    return {event_id: kinds["m.read"][world.bot.user_id]["ts"]
            for e in joined.get("ephemeral", {}).get("events", []) if e["type"] == "m.receipt"
            for event_id, kinds in e["content"].items() if world.bot.user_id in kinds.get("m.read", {})}


async def test_a_command_is_marked_read_once_its_answer_is_out(world: World) -> None:
    """The sender sees the bot has the command; the receipt follows the answer, so it does not slow it."""
    await world.start_bot()
    room = world.rooms["samordnande"]
    command_id = await send_text(world.clients["sos"], room, "!status")
    reply = await wait_for_reply(world.clients["sos"], room, command_id)

    async def marked() -> int | None:
        return (await _read_by_bot(world, room)).get(command_id)

    assert await wait_for(marked) >= reply["origin_server_ts"]


async def test_commands_in_quick_succession_share_a_read_receipt(world: World) -> None:
    """A receipt marks every event up to it as read: the commands of one busy second share one, and the last
    command is marked."""
    app = await world.start_bot()
    receipts: list[str] = []
    client = app.matrix.session.client
    mark = client.update_receipt_marker

    async def counted(room_id: str, event_id: str, *args: Any, **kwargs: Any) -> Any:
        receipts.append(event_id)
        return await mark(room_id, event_id, *args, **kwargs)

    client.update_receipt_marker = counted  # type: ignore[method-assign]
    room = world.rooms["samordnande"]
    commands = [await send_text(world.clients["sos"], room, "!status") for _ in range(4)]
    for command_id in commands:
        await wait_for_reply(world.clients["sos"], room, command_id)

    async def last_marked() -> bool:
        return commands[-1] in await _read_by_bot(world, room)

    await wait_for(last_marked)
    assert receipts[-1] == commands[-1] and len(receipts) <= 2, receipts


async def test_a_command_whose_answer_waits_is_marked_read_at_once(world: World) -> None:
    """Behind a burst of convocations the answer waits, but the sender sees within a second that the bot
    has the command; the answer follows, once."""
    app = await world.start_bot()
    held = asyncio.Event()
    send = app.outbox.send

    async def held_back(row: OutboxMessage) -> tuple[int, str, str] | None:
        await held.wait()
        return await send(row)

    app.outbox.send = held_back  # type: ignore[method-assign]
    room = world.rooms["samordnande"]
    command_id = await send_text(world.clients["sos"], room, "!status")

    async def marked() -> int | None:
        return (await _read_by_bot(world, room)).get(command_id)

    await wait_for(marked, timeout=5)
    assert not [e for e in await room_events(world.clients["sos"], room) if e["sender"] == world.bot.user_id
                and e["type"] == "m.room.message"], "the receipt came while the answer still waited"
    held.set()
    await wait_for_reply(world.clients["sos"], room, command_id)
    replies = [e for e in await room_events(world.clients["sos"], room) if e["sender"] == world.bot.user_id
               and e["type"] == "m.room.message"]
    assert len(replies) == 1
