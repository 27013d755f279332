"""Convocation by function on the real homeserver: pings, direct messages, acknowledgement, escalation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from support import (
    World,
    command,
    direct_bodies,
    direct_messages,
    direct_room,
    highlights,
    react,
    room_events,
    settle,
    wait_for,
)

from bot.domain.clock import FakeClock
from bot.domain.meetings import occurrences
from bot.state.models import AuditEntry, Convocation, Summons


async def pinged(world: World, who: str, room_id: str, needle: str) -> list[dict[str, Any]]:
    """Events in `room_id` that rang `who`'s phone and contain `needle`."""
    return [e for e in await highlights(world.hs, world.people[who])
            if e["room_id"] == room_id and needle in e["content"]["body"]]


async def test_activation_convenes_every_holder_and_reactions_and_commands_acknowledge(world: World) -> None:
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande storm stormbyar i hela länet")
    room = world.rooms["samordnande"]
    names = {"tib": "Tjänsteman i beredskap (TiB)", "rsib": "Regional samverkanskoordinator",
             "sos": "Vakthavande, SOS Alarm", "nacka": "TiB, Nacka kommun"}
    for who, function in names.items():
        ping = (await wait_for(lambda who=who: pinged(world, who, room, "Kallelse")))[0]  # type: ignore[misc]
        assert ping["content"]["msgtype"] == "m.text" and "storm" in ping["content"]["body"]
        dm = (await direct_messages(world, app, who))[0]["content"]
        assert dm["msgtype"] == "m.text"
        assert f"Du kallas som {function}" in dm["body"]
        assert 'href="tel:+46812345678,,4711%23"' in dm["formatted_body"]
        assert "!kvittera" in dm["body"]

    sos_dm = (await direct_messages(world, app, "sos"))[0]
    await react(world.clients["sos"], sos_dm["room_id"], sos_dm["event_id"])
    confirmation = await direct_messages(world, app, "sos", count=2)
    assert "Kvitterat: Vakthavande, SOS Alarm" in confirmation[-1]["content"]["body"]

    answer = await command(world, "nacka", "samordnande", "!kvittera kommer 23:59")
    assert "Kvitterat: TiB, Nacka kommun" in answer and "23:59" in answer
    assert "ersättare kommer i ditt ställe" in (await command(world, "rsib", "samordnande", "!kvittera ersättare"))
    assert "ingen obesvarad kallelse" in await command(world, "nacka", "samordnande", "!kvittera")
    assert "Jag förstod inte kvittensen" in await command(world, "tib", "samordnande", "!kvittera kanske")

    report = await command(world, "tib", "samordnande", "!kallelse")
    assert "Kvitterat 3 av 4" in report
    assert f"✅ Vakthavande, SOS Alarm — {world.people['sos'].user_id}" in report
    assert "ansluter" in report and "23:59" in report
    assert "ersättare kommer" in report
    assert f"⏳ Tjänsteman i beredskap (TiB) — {world.people['tib'].user_id}" in report
    assert "direktmeddelanden: skickade 4 av 4" in report


async def test_an_unanswered_function_escalates_to_its_deputy_then_the_chair_across_restarts(
        world: World, database_url: str) -> None:
    """On SQLite and on PostgreSQL: the state layer is the same."""

    def deputies(data: dict[str, Any]) -> None:
        data["database"]["url"] = database_url
        for function in data["function"]:
            if function["id"] == "sos-vakthavande":
                function["deputies"] = ["nacka-tib"]
                function["ack_within"] = "2m"

    settings = world.settings(deputies)
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(settings, clock)
    await command(world, "tib", "samordnande", "!kalla samordnande elavbrott i Nacka")
    room = world.rooms["samordnande"]
    first = await direct_messages(world, app, "sos")
    assert "Kallelse till extrainsatt samverkanskonferens" in first[0]["content"]["body"]
    ping = (await wait_for(lambda: pinged(world, "tib", room, "Kallelse")))[0]
    await react(world.clients["tib"], room, ping["event_id"])  # the TiB acknowledges on the room ping
    await wait_for(lambda: _acknowledged(world, "TiB"))

    # The bot is down while the deadline passes; after the restart the escalation runs once.
    await world.stop_bots()
    clock.advance(timedelta(minutes=2, seconds=30))
    app = await world.start_bot(settings, clock)
    reminder = await direct_messages(world, app, "sos", count=2)
    assert "PÅMINNELSE" in reminder[-1]["content"]["body"]
    deputy = await direct_messages(world, app, "nacka")
    assert "ersättare för Vakthavande, SOS Alarm" in deputy[0]["content"]["body"]
    assert await wait_for(lambda: pinged(world, "nacka", room, "Ersättare kallas"))
    await settle(app)
    # The TiB acknowledged: no reminder for it, and its deputy is not convened.
    tib = await direct_bodies(world, app, "tib")
    assert not any("PÅMINNELSE" in body for body in tib), tib
    assert await direct_bodies(world, app, "rsib") == [], "the TiB's deputy is not convened"

    await world.stop_bots()
    app = await world.start_bot(settings, clock)
    assert await app.timers.fire_due() == 0
    await settle(app)
    assert len(await direct_messages(world, app, "sos", count=2)) == 2  # nothing sent twice
    assert len(await direct_messages(world, app, "nacka")) == 1

    clock.advance(timedelta(minutes=2))
    assert await app.timers.fire_due() == 1
    told = (await wait_for(lambda: pinged(world, "tib", room, "Inte nådda")))[0]
    assert "Vakthavande, SOS Alarm" in told["content"]["body"]
    report = await command(world, "tib", "samordnande", "!kallelse")
    assert "❌ Vakthavande, SOS Alarm" in report and "inte nådd" in report
    assert "ersättare för Vakthavande, SOS Alarm" in report


async def _acknowledged(world: World, needle: str) -> bool:
    report = await command(world, "tib", "samordnande", "!kallelse")
    return "Kvitterat 1 av" in report and f"✅ {needle}" in report.replace("Tjänsteman i beredskap (TiB)", "TiB")


async def test_a_stand_in_is_convened_in_place_of_the_roster(world: World) -> None:
    app = await world.start_bot()
    tib, rsib = world.people["tib"].user_id, world.people["rsib"].user_id
    assert tib in await command(world, "rsib", "samordnande", "!vem tib")
    answer = await command(world, "rsib", "samordnande", "!tjänstgör tib till 23:59")
    assert f"{rsib} tjänstgör som Tjänsteman i beredskap (TiB) till" in answer
    who = await command(world, "sos", "samordnande", "!vem Länsstyrelsen Stockholm")
    assert f"Tjänsteman i beredskap (TiB): {rsib} (tjänstgör i stället) till" in who
    assert "du får inte" in (await command(world, "sos", "samordnande", "!tjänstgör tib")).lower()

    await command(world, "tib", "samordnande", "!kalla samordnande i morgon 09:00 genomgång")
    dm = (await direct_messages(world, app, "rsib"))[0]["content"]["body"]
    assert "Du kallas som Tjänsteman i beredskap (TiB)" in dm and "Ämne: genomgång" in dm
    events = await room_events(world.clients["tib"], world.rooms["samordnande"])
    convocation = [e for e in events if "Kallelse till extrainsatt" in e["content"].get("body", "")][-1]
    assert tib not in convocation["content"]["m.mentions"]["user_ids"]

    assert "följer åter beredskapsschemat" in await command(world, "rsib", "samordnande", "!tjänstgör tib slut")
    assert f"Tjänsteman i beredskap (TiB): {tib}" in await command(world, "rsib", "samordnande", "!vem tib")


async def test_calling_in_an_organisation_reports_who_has_nobody_and_who_cannot_be_reached(world: World) -> None:
    ghost = f"@ghost-{world.bot.user_id[4:12]}:{world.hs.server_name}"

    def trafikverket(data: dict[str, Any]) -> None:
        data["organisation"].append({"id": "trv", "name": "Trafikverket"})
        data["function"] += [
            {"id": "trv-tlc", "organisation": "trv", "name": "Trafikledningscentral", "holders": [ghost]},
            {"id": "trv-krisledning", "organisation": "trv", "name": "Krisledning, Trafikverket"},
        ]

    await world.start_bot(world.settings(trafikverket))
    await command(world, "tib", "samordnande", "!aktivera inriktande storm")
    answer = await command(world, "tib", "samordnande", "!kalla-in Trafikverket inriktande")
    assert "Trafikledningscentral" in answer and "Krisledning, Trafikverket" in answer
    inriktande = world.rooms["inriktande"]
    nobody = (await wait_for(lambda: pinged(world, "tib", inriktande, "Ingen har beredskap för")))[0]
    assert "Krisledning, Trafikverket" in nobody["content"]["body"]
    assert await wait_for(lambda: _bot_said(world, "inriktande", f"inte levereras till {ghost}"))

    status = await command(world, "tib", "samordnande", "!status inriktande")
    assert "Trafikledningscentral (inkallad, anpassad sammansättning)" in status
    assert "ingår redan" in await command(world, "tib", "samordnande", "!kalla-in trafikverket inriktande")
    assert "Menade du" in await command(world, "tib", "samordnande", "!kalla-in trafikverkt inriktande")
    report = await command(world, "tib", "samordnande", "!kallelse inriktande")
    assert "❌ Krisledning, Trafikverket — ingen har beredskap" in report
    assert "kunde inte nås" in report


async def test_called_in_before_an_activation_and_called_out_again(world: World) -> None:
    """Scene 2: the actors concerned are called in to the planning in ordinary mode, and released again."""
    app = await world.start_bot()
    answer = await command(world, "tib", "samordnande", "!kalla-in nacka samordnande")
    assert "Tillagt i Regionalt samordnande forum: TiB, Nacka kommun" in answer
    told_in = (await direct_messages(world, app, "nacka"))[0]["content"]
    assert told_in["msgtype"] == "m.notice", "told quietly: convened with the next conference, not now"
    assert "Du är inkallad till Regionalt samordnande forum som TiB, Nacka kommun från nästa konferens" \
        in told_in["body"]
    assert f"Inkallad av Tjänsteman i beredskap (TiB): {world.people['tib'].user_id}" in told_in["body"]
    await settle(app)
    assert await direct_bodies(world, app, "nacka") == [told_in["body"]], "exactly one message"
    assert await direct_bodies(world, app, "sos") == [] and await direct_bodies(world, app, "rsib") == []
    await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    assert "Du kallas som TiB, Nacka kommun" in (await direct_messages(world, app, "nacka", count=2))[1]["content"][
        "body"]
    assert "ingår redan" in await command(world, "tib", "samordnande", "!kalla-in nacka samordnande")

    assert "bara den som får sammankalla" in await command(world, "sos", "samordnande", "!kalla-ut nacka")
    released = await command(world, "tib", "samordnande", "!kalla-ut nacka samordnande")
    assert "Utkallade ur Regionalt samordnande forum: TiB, Nacka kommun" in released
    told = (await direct_messages(world, app, "nacka", count=3))[-1]["content"]
    assert "inte längre inkallad" in told["body"] and told["msgtype"] == "m.notice", "told, quietly"
    assert "är inte inkallad" in await command(world, "tib", "samordnande", "!kalla-ut nacka samordnande")
    assert "är inte inkallad" in await command(world, "tib", "samordnande", "!kalla-ut sos"), "the ordinary stay"
    await command(world, "tib", "samordnande", "!kalla samordnande igen")
    await settle(app)
    assert len(await direct_bodies(world, app, "nacka")) == 3, "no longer convened"
    assert len(await direct_bodies(world, app, "sos")) == 2


async def _bot_said(world: World, room: str, needle: str) -> bool:
    events = await room_events(world.clients["tib"], world.rooms[room])
    return any(needle in e["content"].get("body", "") for e in events if e["sender"] == world.bot.user_id)


async def test_deactivation_stops_the_escalation_of_its_convocation(world: World) -> None:
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    await command(world, "tib", "samordnande", "!avaktivera samordnande")
    clock.advance(timedelta(minutes=30))
    assert await app.timers.fire_due() == 0
    await settle(app)
    await direct_messages(world, app, "sos")
    # The convocation and no reminder (the weekly meeting's steps may fall in the half hour, whatever the day).
    assert len(await _bodies_with(world, app, "sos", "storm")) == 1
    assert await _bodies_with(world, app, "sos", "PÅMINNELSE") == []


async def test_direct_rooms_are_opened_at_start_and_reused_by_convocations(world: World) -> None:
    app = await world.start_bot()
    opened = {who: await direct_room(app, world.people[who]) for who in ("tib", "rsib", "sos", "nacka")}
    assert len(set(opened.values())) == 4
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    for who, room_id in opened.items():
        assert (await direct_messages(world, app, who))[0]["room_id"] == room_id
    await world.stop_bots()
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!kalla samordnande igen")
    assert [m["room_id"] for m in await direct_messages(world, app, "sos", count=2)] == [opened["sos"]] * 2


async def test_a_reaction_acknowledges_only_the_convocation_it_is_on(world: World) -> None:
    """✅ on the inriktande forum's convocation leaves the TiB's samordnande convocation unanswered; 👎 acknowledges
    nothing."""
    app = await world.start_bot()
    await command(world, "tib", "inriktande", "!aktivera inriktande storm")
    await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    inriktande = (await wait_for(lambda: pinged(world, "tib", world.rooms["inriktande"], "storm")))[0]
    samordnande = (await wait_for(lambda: pinged(world, "sos", world.rooms["samordnande"], "avstämning")))[0]
    await react(world.clients["sos"], world.rooms["samordnande"], samordnande["event_id"], "👎")
    await react(world.clients["tib"], world.rooms["inriktande"], inriktande["event_id"])
    await wait_for(lambda: _acked(app, "inriktande", "lst-tib"))
    await settle(app)
    assert not await _acked(app, "samordnande", "lst-tib"), "the other forum's convocation is still unanswered"
    assert not await _acked(app, "samordnande", "sos-vakthavande"), "👎 is no acknowledgement"


async def _acked(app: Any, forum_id: str, function_id: str) -> bool:
    async with app.db.session() as session:
        rows = (await session.exec(select(Summons).join(Convocation, col(Convocation.id) == col(Summons.convocation_id))
                                   .where(Convocation.forum_id == forum_id, Summons.function_id == function_id,
                                          col(Summons.ack_at).is_not(None)))).all()
    return bool(rows)


async def test_the_escalation_falls_due_at_ack_within_not_a_second_before(world: World) -> None:
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    await settle(app)
    clock.advance(timedelta(minutes=5) - timedelta(seconds=1))  # ack_within is 5 minutes by default
    assert await app.timers.fire_due() == 0
    await settle(app)
    assert not any("PÅMINNELSE" in b for b in await direct_bodies(world, app, "sos"))
    clock.advance(timedelta(seconds=1))
    assert await app.timers.fire_due() == 2, "the TiB's and SOS Alarm's summonses, both unanswered"
    await settle(app)
    reminders = [b for b in await direct_bodies(world, app, "sos") if "PÅMINNELSE" in b]
    assert len(reminders) == 1, "one reminder"
    assert await app.timers.fire_due() == 0, "and never again for the same step"


async def test_time_that_passes_fires_the_escalation_and_a_meeting_step_through_the_real_loops(world: World) -> None:
    """No step function called by hand: the clock moves, the timer loop and APScheduler's wake-up do the rest."""
    meeting = world.settings().forums[0].meetings[0]
    starts = occurrences(meeting, datetime.now(UTC) + timedelta(days=2), ZoneInfo("Europe/Stockholm"))[0]
    clock = FakeClock(starts - timedelta(hours=24, minutes=10))  # before the weekly convocation goes out
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    await settle(app)
    assert not any("PÅMINNELSE" in b for b in await direct_bodies(world, app, "sos"))

    clock.advance(timedelta(minutes=5))  # ack_within has passed: the timer loop escalates
    await wait_for(lambda: _bodies_with(world, app, "sos", "PÅMINNELSE"), 20)

    clock.advance(timedelta(minutes=10))  # the weekly meeting's convocation is due: APScheduler wakes
    await wait_for(lambda: _bodies_with(world, app, "sos", "Veckomöte"), 20)
    await settle(app)
    convened = [b for b in await _bodies_with(world, app, "sos", "Veckomöte") if "Du kallas" in b]
    assert len(convened) == 1, "the weekly convocation once (the lägesbild request names the meeting too)"
    assert len(await _bodies_with(world, app, "sos", "PÅMINNELSE")) == 1, "each step once"


async def test_a_weekly_convocation_does_not_stop_the_escalation_of_a_conference_in_hand(world: World) -> None:
    """The weekly meeting is convened a day ahead while an extra conference waits for answers: the extra
    conference's reminder still goes out when its time is up."""
    meeting = world.settings().forums[0].meetings[0]
    starts = occurrences(meeting, datetime.now(UTC) + timedelta(days=2), ZoneInfo("Europe/Stockholm"))[0]
    clock = FakeClock(starts - timedelta(hours=24, minutes=2))
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    await settle(app)
    clock.advance(timedelta(minutes=2))  # the weekly convocation goes out
    await wait_for(lambda: _bodies_with(world, app, "sos", "Veckomöte"), 20)
    clock.advance(timedelta(minutes=3))  # the extra conference's ack_within has passed
    await wait_for(lambda: _bodies_with(world, app, "sos", "PÅMINNELSE"), 20)
    await settle(app)
    reminders = await _bodies_with(world, app, "sos", "PÅMINNELSE")
    assert len(reminders) == 1 and "avstämning" in reminders[0], reminders


async def _bodies_with(world: World, app: Any, who: str, needle: str) -> list[str]:
    return [b for b in await direct_bodies(world, app, who) if needle in b]


async def test_a_reaction_counts_while_the_rest_of_its_convocation_is_still_going_out(
        world: World, monkeypatch: Any) -> None:
    """A person reacts to their direct message while another holder's is still on its way (a slow homeserver):
    the ✅ still acknowledges, and is not lost because the bot had not yet written down what it sent."""
    app = await world.start_bot()
    for who in ("tib", "rsib", "sos", "nacka"):
        await direct_room(app, world.people[who])
    held = asyncio.Event()
    send = app.outbox.send

    async def slow_for_nacka(row: Any) -> Any:
        if row.target == f"user:{world.people['nacka'].user_id}":
            await held.wait()
        return await send(row)

    monkeypatch.setattr(app.outbox, "send", slow_for_nacka)
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    [dm] = await direct_messages(world, app, "sos")
    await react(world.clients["sos"], await direct_room(app, world.people["sos"]), dm["event_id"])
    try:
        await wait_for(lambda: _acked(app, "samordnande", "sos-vakthavande"))
    finally:
        held.set()
    await settle(app)
    assert await direct_bodies(world, app, "nacka"), "the held message went out in the end"


async def test_a_second_convocation_within_minutes_asks_for_igen_and_rings_nobody(world: World) -> None:
    """A phone that resends, or two conveners at once: the second !kalla rings nobody until confirmed."""
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    await direct_messages(world, app, "sos")
    second = await command(world, "tib", "samordnande", "!kalla samordnande avstämning")
    assert "Ingen har kallats nu" in second and "!kalla samordnande igen" in second
    assert "kallades för" in await command(world, "tib", "samordnande", "!kalla samordnande 14:30 igen?")
    await settle(app)
    assert len(await direct_bodies(world, app, "sos")) == 1, "nobody rung a second time"
    async with app.db.session() as session:
        assert len((await session.exec(select(Convocation))).all()) == 1
        refused = (await session.exec(select(AuditEntry).where(AuditEntry.action == "convene",
                                                               col(AuditEntry.allowed).is_(False)))).all()
    assert len(refused) == 2

    answer = await command(world, "tib", "samordnande", "!kalla samordnande igen nytt läge")
    assert "Ämne: nytt läge" in answer
    assert "nytt läge" in (await direct_messages(world, app, "sos", count=2))[1]["content"]["body"]
    await settle(app)
    assert len(await direct_bodies(world, app, "sos")) == 2, "igen: exactly one more"
