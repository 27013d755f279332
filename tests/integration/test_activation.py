"""Forums, modes and activation on the real homeserver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from support import (
    World,
    command,
    direct_bodies,
    direct_messages,
    highlights,
    react,
    room_events,
    room_state,
    settle,
    wait_for,
)

from bot.domain.clock import FakeClock


def bot_events(events: list[dict[str, Any]], world: World) -> list[dict[str, Any]]:
    return [e for e in events if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]


async def test_convener_activates_directly_and_everyone_is_pinged(world: World) -> None:
    """The TiB's !aktivera activates at once: a ping that rings each holder, topic and state changed, logged."""
    await world.start_bot()
    body = await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder klass 3 i hela länet")
    assert "aktiverat för snöoväder" in body
    room = world.rooms["samordnande"]

    ping = (await wait_for(lambda: _highlighted(world, "nacka", "samordnande")))[0]
    assert ping["sender"] == world.bot.user_id
    assert ping["content"]["msgtype"] == "m.text"
    assert "snöoväder" in ping["content"]["body"]
    assert world.people["sos"].user_id in ping["content"]["m.mentions"]["user_ids"]

    assert "AKTIVERAT: snöoväder — sedan" in await wait_for(lambda: _topic_with(world, "AKTIVERAT"))

    async def forum_state() -> dict[str, Any]:  # set right after the topic
        return await room_state(world.clients["tib"], room, "se.samverkan.forum", "samordnande")

    state = await wait_for(forum_state)
    assert state["mode"] == "activated" and state["event"] == "snöoväder"

    log = await wait_for(lambda: _bot_said(world, "logg", "AKTIVERAT"))
    assert "snöoväder" in log

    status = await command(world, "sos", "samordnande", "!status")
    assert "AKTIVERAT: snöoväder" in status


async def _topic_without(world: World, needle: str) -> str | None:
    state = await room_state(world.clients["tib"], world.rooms["samordnande"], "m.room.topic")
    topic = str(state.get("topic", ""))
    return topic if needle not in topic else None


async def _pins_beyond(world: World, count: int, at_most: bool = False) -> list[str] | None:
    """The room's pinned events once there are more than `count` (or, with at_most, no more than count+1)."""
    pinned = list((await room_state(world.clients["tib"], world.rooms["samordnande"],
                                    "m.room.pinned_events")).get("pinned", []))
    return pinned if (len(pinned) <= count + 1 if at_most else len(pinned) > count) else None


async def _topic_with(world: World, needle: str) -> str | None:
    """The samordnande room's topic once it contains `needle`."""
    state = await room_state(world.clients["tib"], world.rooms["samordnande"], "m.room.topic")
    topic = str(state.get("topic", ""))
    return topic if needle in topic else None


async def _highlighted(world: World, who: str, room: str, needle: str = "") -> list[dict[str, Any]]:
    """Events in `room` that pinged `who`'s phone and contain `needle`."""
    return [e for e in await highlights(world.hs, world.people[who])
            if e["room_id"] == world.rooms[room] and needle in e["content"]["body"]]


async def _bot_said(world: World, room: str, needle: str) -> str | None:
    for event in bot_events(await room_events(world.clients["tib"], world.rooms[room]), world):
        if needle in event["content"].get("body", ""):
            return str(event["content"]["body"])
    return None


async def test_member_request_pings_the_convener_who_confirms_with_a_reaction(world: World) -> None:
    """Nacka's TiB requests; the Länsstyrelsen TiB's phone rings; ✅ on the request activates; Nacka is told."""
    await world.start_bot()
    body = await command(world, "nacka", "samordnande", "!aktivera samordnande snöoväder")
    assert "Begäran om aktivering av Regionalt samordnande forum har skickats" in body
    room = world.rooms["samordnande"]

    request = (await wait_for(lambda: _highlighted(world, "tib", "samordnande", "BEGÄRAN om aktivering")))[0]
    status = await command(world, "sos", "samordnande", "!status samordnande")
    assert "ordinarie läge" in status and "begärd av" in status

    await react(world.clients["tib"], room, request["event_id"])
    told = await wait_for(lambda: _bot_said(world, "samordnande", "din begäran har bekräftats"))
    assert world.people["nacka"].user_id in told
    status = await command(world, "sos", "samordnande", "!status")
    assert "AKTIVERAT: snöoväder" in status


async def test_convener_declines_a_request_with_a_reason(world: World) -> None:
    """A declined request leaves the forum ordinary and tells the requester why."""
    app = await world.start_bot()
    await command(world, "nacka", "samordnande", "!aktivera samordnande skyfall")
    body = await command(world, "tib", "samordnande", "!avslå samordnande hanteras lokalt i Nacka")
    assert "avslagen" in body
    told = await wait_for(lambda: _bot_said(world, "samordnande", "har avslagits"))
    assert "hanteras lokalt i Nacka" in told
    async with app.db.session() as session:
        mode = (await session.exec(text("SELECT mode FROM forum_state WHERE forum_id='samordnande'"))).first()
    assert mode is None or mode[0] == "ordinary"


async def test_deactivation_returns_to_ordinary_and_the_topic_follows(world: World) -> None:
    """The mode goes in front of the topic people wrote and the activation is pinned; deactivation gives
    them back their topic (with what they changed meanwhile) and unpins it, leaving their own pins."""
    room = world.rooms["samordnande"]
    theirs = "Samverkan i Stockholms län — TiB nås på 08-123 456"
    await world.clients["admin"].room_put_state(room, "m.room.topic", {"topic": theirs})
    await world.clients["admin"].room_put_state(room, "m.room.pinned_events", {"pinned": ["$deras-egen"]})
    await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    topic = await wait_for(lambda: _topic_with(world, "AKTIVERAT"))
    assert topic.startswith("AKTIVERAT: snöoväder — sedan ") and topic.endswith(f" | {theirs}")
    pins = (await wait_for(lambda: _pins_beyond(world, 1)))
    ping = pins[-1]
    assert pins[0] == "$deras-egen" and len(pins) == 2
    assert any(e["event_id"] == ping and "AKTIVERAT" in e["content"]["body"]
               for e in await room_events(world.clients["tib"], room))
    edited = topic.replace(theirs, "Ny text från forumet")
    await world.clients["admin"].room_put_state(room, "m.room.topic", {"topic": edited})
    again = await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    assert "redan aktiverat" in again
    other = await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    assert other.rstrip().endswith("!aktivera samordnande storm ny")
    switched = await command(world, "tib", "samordnande", "!aktivera samordnande storm —ny")  # as a phone types --ny
    assert "är aktiverat för storm." in switched
    body = await command(world, "tib", "samordnande", "!avaktivera samordnande")
    assert "återgick till ordinarie läge" in body
    assert await wait_for(lambda: _topic_without(world, "AKTIVERAT")) == "Ny text från forumet"
    assert await wait_for(lambda: _pins_beyond(world, 0, at_most=True)) == ["$deras-egen"]
    again = await command(world, "tib", "samordnande", "!avaktivera samordnande")
    assert "redan i ordinarie läge" in again


async def test_an_actor_outside_the_forum_calls_for_activation_and_one_without_a_function_is_refused(
        world: World) -> None:
    """Seed 000: an outside actor may call for activation. SOS Alarm is not in the inriktande forum:
    its request goes to the conveners and nothing is activated. The administrator holds no function:
    refused, audited, nothing stored."""
    app = await world.start_bot()
    body = await command(world, "sos", "inriktande", "!aktivera inriktande storm")
    assert "Begäran om aktivering av Regionalt inriktande forum har skickats" in body
    request = await wait_for(lambda: _highlighted(world, "tib", "inriktande", "BEGÄRAN om aktivering"))
    assert len(request) == 1 and "Vakthavande, SOS Alarm" in request[0]["content"]["body"]
    refused = await command(world, "admin", "inriktande", "!aktivera inriktande storm")
    assert "inte registrerad för någon funktion" in refused
    async with app.db.session() as session:
        states = (await session.exec(text("SELECT count(*) FROM forum_state"))).one()[0]
        activations = (await session.exec(text("SELECT count(*) FROM activation"))).one()[0]
        audit = (await session.exec(text("SELECT action, allowed FROM audit ORDER BY id"))).all()
    assert (states, activations) == (0, 0)
    assert [tuple(row) for row in audit] == [("request_activation", 1), ("activate", 0)]


async def test_missing_power_is_said_once_and_activation_still_works(world: World) -> None:
    """In a room where the bot may not set the topic it says so once and carries on."""
    await world.start_bot()
    body = await command(world, "tib", "inriktande", "!aktivera inriktande storm")
    assert "aktiverat för storm" in body
    assert "samordnande forumet först" in await wait_for(lambda: _bot_said(world, "inriktande", "först"))
    await wait_for(lambda: _bot_said(world, "inriktande", "inte behörighet att ändra rummets ämne"))
    await command(world, "tib", "inriktande", "!avaktivera inriktande")
    await command(world, "tib", "inriktande", "!status")
    events = bot_events(await room_events(world.clients["tib"], world.rooms["inriktande"]), world)
    assert sum("inte behörighet att ändra rummets ämne" in e["content"]["body"] for e in events) == 1


async def test_activation_survives_a_restart_and_exercise_is_marked(world: World) -> None:
    await world.start_bot()
    body = await command(world, "tib", "samordnande", "!övning på")
    assert body.startswith("ÖVNING ")
    await command(world, "tib", "samordnande", "!aktivera samordning snöoväder")
    await world.stop_bots()
    await world.start_bot()
    status = await command(world, "sos", "samordnande", "!status samordnande")
    assert "ÖVNING Regionalt samordnande forum" in status
    assert "AKTIVERAT: snöoväder" in status
    assert "ÖVNING AKTIVERAT: snöoväder" in status


async def test_an_activation_for_a_later_conference_says_its_time_and_a_bad_time_activates_nothing(
        world: World) -> None:
    """Scene 3: the forum is activated now and convened for a conference later."""
    ten = datetime.now(ZoneInfo("Europe/Stockholm")).replace(hour=10, minute=0, second=0, microsecond=0)
    clock = FakeClock(ten.astimezone(UTC))
    app = await world.start_bot(clock=clock)
    bad = await command(world, "tib", "samordnande", "!aktivera samordnande storm kl 25:99")
    assert "Jag kan inte läsa tiden i ”kl 25:99”" in bad and "Användning: !aktivera" in bad
    assert "ordinarie läge" in await command(world, "tib", "samordnande", "!status samordnande")
    assert await direct_bodies(world, app, "sos") == [], "nothing was sent"

    answer = await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder om 2h")
    assert "är aktiverat för snöoväder. Samverkanskonferens " in answer and " 12:00." in answer
    dm = (await direct_messages(world, app, "sos"))[0]["content"]["body"]
    assert dm.splitlines()[0] == "AKTIVERAT snöoväder — Regionalt samordnande forum · konferens 12:00"

    await command(world, "nacka", "samordnande", "!kvittera")

    async def reminders(who: str) -> int:
        return sum("PÅMINNELSE" in b for b in await direct_bodies(world, app, who))

    clock.set(ten + timedelta(hours=1, minutes=44))  # the unanswered are escalated as usual
    await app.timers.fire_due()
    await settle(app)
    escalated = await reminders("sos")
    clock.set(ten + timedelta(hours=1, minutes=46))  # 15 minutes before: the dial-in again, to who has not answered
    await app.timers.fire_due()
    await settle(app)
    assert await reminders("sos") == escalated + 1 and await reminders("nacka") == 0
    await app.timers.fire_due()
    clock.set(ten + timedelta(hours=2))  # the conference begins: the meeting opens, once
    await app.timers.fire_due()
    await app.timers.fire_due()
    await settle(app)
    assert await reminders("sos") == escalated + 1
    opened = [e for e in bot_events(await room_events(world.clients["tib"], world.rooms["samordnande"]), world)
              if "har börjat" in e["content"].get("body", "")]
    assert len(opened) == 1 and "Samverkanskonferens i aktiverat läge har börjat" in opened[0]["content"]["body"]
