"""What a phone shows: the first two lines of each ringing message say what, when, how to join and how
to acknowledge; files wake nobody outside the room where they are asked for or kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from support import (
    World,
    command,
    direct_messages,
    notifications,
    room_events,
    send_text,
    settle,
    wait_for,
    wait_for_reply,
)

from bot.domain.clock import FakeClock
from bot.state.convocations import READ, reach

JOIN = "📞 Ring 08-123 456 78, PIN 4711"
FORUM = "Regionalt samordnande forum"


def lines(event: dict[str, Any]) -> list[str]:
    return str(event["content"]["body"]).splitlines()


def plain_as_a_lock_screen_shows_it(event: dict[str, Any]) -> None:
    body = event["content"]["body"]
    assert "**" not in body and "tel:" not in body, body
    assert 'href="tel:+46812345678,,4711%23"' in event["content"]["formatted_body"], "one tap dials the PIN too"


async def pinged(world: World, who: str, needle: str) -> list[dict[str, Any]]:
    return [n for n in await notifications(world.hs, world.people[who], only_highlight=True)
            if needle in n["content"].get("body", "")]


async def test_every_ringing_message_says_what_when_how_to_join_and_acknowledge_first(world: World) -> None:
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder röd varning för snö i hela länet")

    ping = (await wait_for(lambda: pinged(world, "sos", "AKTIVERAT snöoväder")))[0]
    first, second = lines(ping)[:2]
    now = clock.now().astimezone(ZoneInfo("Europe/Stockholm"))
    assert first == f"AKTIVERAT snöoväder — {FORUM} · konferens {now:%H:%M}", "today: the time alone"
    assert second == f"{JOIN} · kvittera med ✅"
    plain_as_a_lock_screen_shows_it(ping)

    dm = (await direct_messages(world, app, "sos"))[0]
    assert lines(dm)[0] == first and lines(dm)[1] == f"{JOIN} · kvittera med ✅ eller !kvittera"
    assert "Beskrivning: röd varning för snö i hela länet" in lines(dm), "the event's description"
    convener = f"Sammankallad av Tjänsteman i beredskap (TiB), Länsstyrelsen Stockholm: {world.people['tib'].user_id}"
    assert convener in dm["content"]["body"]
    assert f'href="https://matrix.to/#/{world.people["tib"].user_id}"' in dm["content"]["formatted_body"]
    plain_as_a_lock_screen_shows_it(dm)

    clock.advance(timedelta(minutes=5))  # SOS Alarm has not acknowledged: a reminder, and its deputy
    assert await app.timers.fire_due() >= 1
    reminder = (await direct_messages(world, app, "sos", count=2))[-1]
    assert lines(reminder)[0] == f"PÅMINNELSE, ingen kvittens: {first}"
    assert lines(reminder)[1] == f"{JOIN} · kvittera med ✅ eller !kvittera"
    plain_as_a_lock_screen_shows_it(reminder)
    escalation = (await wait_for(lambda: pinged(world, "sos", "Ingen kvittens: ")))
    assert len(escalation) == 1
    assert lines(escalation[0])[:2] == [f"PÅMINNELSE, ingen kvittens: {first}", f"{JOIN} · kvittera med ✅"]
    # The RSIB and Nacka never opened their direct rooms: the chair is told to reach them another way.
    told = (await wait_for(lambda: pinged(world, "tib", "Har inte öppnat sitt direktrum")))
    assert len(told) == 1
    unopened = told[0]["content"]["body"]
    assert world.people["rsib"].user_id in unopened and world.people["nacka"].user_id in unopened
    assert world.people["sos"].user_id not in unopened, "SOS Alarm opened it"


async def test_a_deputy_is_told_whom_they_stand_in_for_after_the_two_lines(world: World) -> None:
    def sos_deputy(data: dict[str, Any]) -> None:
        for function in data["function"]:
            if function["id"] == "sos-vakthavande":
                function["deputies"] = ["nacka-tib"]

    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(world.settings(sos_deputy), clock=clock)
    await command(world, "tib", "samordnande", "!kalla samordnande elavbrott")
    clock.advance(timedelta(minutes=5))
    assert await app.timers.fire_due() == 2, "the TiB's and SOS Alarm's summonses, both unanswered"
    deputy = (await direct_messages(world, app, "nacka"))[0]
    first, second = lines(deputy)[:2]
    assert first.startswith(f"{FORUM} · konferens ") and second == f"{JOIN} · kvittera med ✅ eller !kvittera"
    assert lines(deputy)[2] == ("Du kallas som TiB, Nacka kommun, ersättare för Vakthavande, SOS Alarm som inte "
                                "har svarat.")
    plain_as_a_lock_screen_shows_it(deputy)


async def test_an_activation_request_says_what_and_how_to_answer_first(world: World) -> None:
    await world.start_bot()
    await command(world, "sos", "samordnande", "!aktivera samordnande stormen")
    request = (await wait_for(lambda: pinged(world, "tib", "BEGÄRAN om aktivering")))[0]
    assert lines(request)[:2] == [f"BEGÄRAN om aktivering: stormen — {FORUM}",
                                  "Bekräfta med ✅ · avslå med !avslå samordnande <orsak>"]
    assert "**" not in request["content"]["body"]


async def _files(world: World, room: str) -> list[dict[str, Any]]:
    return [e for e in await room_events(world.clients["tib"], world.rooms[room])
            if e["sender"] == world.bot.user_id and e["content"].get("msgtype") == "m.file"]


async def _file_notifications(world: World, who: str) -> list[dict[str, Any]]:
    return [n for n in await notifications(world.hs, world.people[who]) if n["content"].get("msgtype") == "m.file"]


async def test_files_wake_nobody_outside_where_they_are_asked_for_or_kept(world: World) -> None:
    def sos_home(data: dict[str, Any]) -> None:  # SOS Alarm's home room (the test has four rooms to lend)
        next(o for o in data["organisation"] if o["id"] == "sos")["home_room"] = world.aliases["inriktande"]

    app = await world.start_bot(world.settings(sos_home))
    await command(world, "sos", "samordnande", "!rapport konsekvenser: köer på E4")
    picture = await command(world, "tib", "samordnande", "!lägesbild")
    assert "köer på E4" in picture
    await command(world, "tib", "samordnande", "!möte start")
    await command(world, "tib", "samordnande", "!här")
    await command(world, "tib", "samordnande", "!beslut Gemensamt budskap om snö")
    await command(world, "tib", "samordnande", "!möte slut")
    kept = await wait_for(lambda: _files(world, "logg"))
    assert len(kept) == 1 and kept[0]["content"]["body"].startswith("minnesanteckningar-samordnande-")
    assert await wait_for(lambda: _bot_text(world, "lst", "Minnesanteckningar: ")), "the home room gets the text"
    absent = await wait_for(lambda: _bot_text(world, "inriktande", "Minnesanteckningar: "))
    assert len(absent) == 1, "SOS Alarm was convened and not present: its home room gets them too"
    await settle(app)
    assert await _files(world, "samordnande") == [] and await _files(world, "lst") == []
    assert await _files(world, "inriktande") == []
    for who in ("tib", "rsib", "sos", "nacka"):
        woken = [n for n in await _file_notifications(world, who) if n["room_id"] != world.rooms["logg"]]
        assert woken == [], who

    asked = await send_text(world.clients["tib"], world.rooms["samordnande"], "!lägesbild fil")
    files = await wait_for(lambda: _files(world, "samordnande"))
    assert len(files) == 1 and files[0]["content"]["body"].endswith(".html"), "on request, as a page"
    assert files[0]["content"]["info"]["mimetype"] == "text/html"
    assert asked


async def _bot_text(world: World, room: str, needle: str) -> list[dict[str, Any]]:
    return [e for e in await room_events(world.clients["tib"], world.rooms[room])
            if e["sender"] == world.bot.user_id and needle in e["content"].get("body", "")]


async def test_kallelse_tells_sent_from_opened_from_read_from_acknowledged(world: World) -> None:
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    read = (await direct_messages(world, app, "sos"))[0]  # SOS Alarm opens the direct room and reads
    await world.clients["sos"].room_read_markers(read["room_id"], read["event_id"], read["event_id"])
    await direct_messages(world, app, "nacka")  # Nacka opens it, and reads nothing
    await command(world, "tib", "samordnande", "!kvittera")  # the TiB acknowledges; the RSIB does nothing
    await settle(app)

    async def sos_has_read() -> bool:
        async with app.db.session() as session:
            return (await reach(session, 1)).get(world.people["sos"].user_id) == READ

    await wait_for(sos_has_read)
    event_id = await send_text(world.clients["tib"], world.rooms["samordnande"], "!kallelse")
    answer = (await wait_for_reply(world.clients["tib"], world.rooms["samordnande"], event_id))["content"]
    body = answer["body"]
    assert "Kvitterat 1 av 4 · direktmeddelanden: skickade 4 av 4, öppnade 2, lästa 1" in body
    people = {name: world.people[name].user_id for name in ("sos", "nacka", "rsib", "tib")}
    assert f"{people['sos']} (läst)" in body
    assert f"{people['nacka']} (i direktrummet, inte läst)" in body
    assert f"{people['rsib']} (har inte öppnat direktrummet)" in body
    assert f"✅ Tjänsteman i beredskap (TiB) — {people['tib']} " in body
    for user in people.values():
        assert f'href="https://matrix.to/#/{user}"' in answer["formatted_body"], "a pill to tap"
