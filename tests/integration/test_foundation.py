"""The bot on a real homeserver: help, status, unknown commands, strangers, restarts."""

from __future__ import annotations

import aiohttp
from support import World, command, room_events, send_text, wait_for_reply

from bot.health import check


async def test_help_is_a_notice_in_reply_to_the_command(world: World) -> None:
    """!hjälp lists the commands with usage, quietly (m.notice), as a reply."""
    await world.start_bot()
    room = world.rooms["samordnande"]
    event_id = await send_text(world.clients["tib"], room, "!hjälp")
    reply = await wait_for_reply(world.clients["tib"], room, event_id)
    content = reply["content"]
    assert reply["sender"] == world.bot.user_id
    assert content["msgtype"] == "m.notice"
    assert "!status [forum]" in content["body"]
    assert "!hjälp [kommando]" in content["body"]
    assert content["m.mentions"] == {}


async def test_help_for_one_command_by_its_english_name(world: World) -> None:
    """!help status explains one command; names match without diacritics too."""
    await world.start_bot()
    room = world.rooms["samordnande"]
    event_id = await send_text(world.clients["sos"], room, "!HJALP status")
    reply = await wait_for_reply(world.clients["sos"], room, event_id)
    assert reply["content"]["body"].startswith("**!status [forum]**")


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
    assert "Okänd forum: samordnade." in body
    assert "samordnande" in body
    assert "Användning: !status [forum]" in body


async def test_sender_outside_the_configuration_is_refused(world: World) -> None:
    """Someone who holds no function gets a polite refusal and no status."""
    await world.start_bot()
    body = await command(world, "outsider", "samordnande", "!status")
    assert "finns inte bland funktionerna" in body
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
