"""Duty schedules from calendar feeds, against the real Synapse with a local server playing the organisation's
calendar: the convocation rings the person the feed names at that instant (across the October DST switch, with
an EXDATE and a moved occurrence), `!vem` says the schedule answered, the gaps and overlaps ahead are told once,
an edited feed is picked up within a poll, a broken one keeps the last good rota, also through a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tomli_w
from feeds import FeedBot, FeedServer
from support import World, base_config, command, direct_bodies, highlights, room_events, settle, wait_for

from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.ops.health import check

EVERY = timedelta(minutes=15)
START = datetime(2026, 10, 26, 10, tzinfo=UTC)  # Monday, the day after the switch to winter time


def calendar(*, gap: bool = True, overlap: bool = True) -> str:
    """Nacka's TiB rota: Nina and Olle take turns by the week (Friday 07:00), as the municipality keeps it."""
    events = [
        # Nina every other week from Friday 23 October: across the DST switch; 6 November moved to 12:00.
        "UID:nina\nSUMMARY:Nina Nilsson\nDTSTART;TZID=Europe/Stockholm:20261023T070000\n"
        "DTEND;TZID=Europe/Stockholm:20261030T070000\nRRULE:FREQ=WEEKLY;INTERVAL=2",
        "UID:nina\nSUMMARY:Nina Nilsson\nRECURRENCE-ID;TZID=Europe/Stockholm:20261106T070000\n"
        f"DTSTART;TZID=Europe/Stockholm:20261106T{'12' if gap else '07'}0000\n"
        "DTEND;TZID=Europe/Stockholm:20261113T070000",
        # Olle the weeks between, but not 30 October: Nina took that week, written as its own event.
        "UID:olle\nATTENDEE;CN=Olle Olsson:mailto:olle@nacka.se\nDTSTART;TZID=Europe/Stockholm:20261016T070000\n"
        "DTEND;TZID=Europe/Stockholm:20261023T070000\nRRULE:FREQ=WEEKLY;INTERVAL=2\n"
        "EXDATE;TZID=Europe/Stockholm:20261030T070000",
        "UID:swap\nORGANIZER:mailto:nina@nacka.se\nSUMMARY:Byte\nDTSTART;TZID=Europe/Stockholm:20261030T070000\n"
        "DTEND;TZID=Europe/Stockholm:20261106T070000",
    ]
    if overlap:  # Olle booked on Sunday 8 November too, in Nina's week
        events.append("UID:extra\nATTENDEE:mailto:olle@nacka.se\nDTSTART;TZID=Europe/Stockholm:20261108T070000\n"
                      "DTEND;TZID=Europe/Stockholm:20261108T190000")
    body = "".join(f"BEGIN:VEVENT\nDTSTAMP:20261001T000000Z\n{e}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Nacka kommun//Beredskap//SV\n{body}END:VCALENDAR\n".replace(
        "\n", "\r\n")


@dataclass
class Rota(FeedBot):
    FEED = "schedule:nacka-tib"
    EVERY = EVERY

    def settings(self) -> Settings:
        people = self.world.people

        def add(data: dict[str, Any]) -> None:
            data["bot"]["rota_gaps_to"] = "lst-rsib"
            data["organisation"][2]["home_room"] = self.world.aliases["lst"]
            data["function"][3]["schedule"] = f"{self.server.url}/nacka/tib.ics"
            data["person"] = [
                {"user": people["outsider"].user_id, "name": "Nina Nilsson", "email": "nina@nacka.se"},
                {"user": people["admin"].user_id, "name": "Olle Olsson", "email": "olle@nacka.se"}]

        return self.world.settings(add)


@pytest.fixture
async def rota(world: World) -> AsyncIterator[Rota]:
    server = FeedServer()
    await server.start()
    server.serve(calendar())
    yield Rota(world, server, FakeClock(START))
    await world.stop_bots()
    await server.stop()


async def home_room_notes(world: World) -> list[str]:
    """What the bot has told the organisation's home room by itself (not its answers to commands there)."""
    return [e["content"]["body"] for e in await room_events(world.clients["rsib"], world.rooms["lst"])
            if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"
            and "m.relates_to" not in e["content"]]


async def test_the_feed_names_who_is_rung_and_the_gaps_ahead_are_told_once(rota: Rota) -> None:
    world, server = rota.world, rota.server
    nina, nacka = world.people["outsider"].user_id, world.people["nacka"].user_id
    app = await rota.start()

    who = await command(world, "tib", "samordnande", "!vem nacka-tib")
    assert f"TiB, Nacka kommun: {nina} (enligt Nacka kommuns beredskapsschema) till fre 30 okt 07:00" in who, who
    line = next(line for line in who.splitlines() if "TiB, Nacka kommun:" in line)
    assert nacka not in line, "the holders list does not answer while the schedule does"

    gap = ("Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) fre 6 nov 07:00 – fre 6 nov 12:00 "
           "(beredskapsschemat).")
    overlap = ("Två i tjänst samtidigt som TiB, Nacka kommun (Nacka kommun) sön 8 nov 07:00 – sön 8 nov 19:00: "
               "Nina Nilsson, Olle Olsson (beredskapsschemat).")  # by name, never a Matrix id
    assert await home_room_notes(world) == [gap, overlap], "exactly the planted gap and overlap, once each"
    assert sorted(await direct_bodies(world, app, "rsib")) == sorted([gap, overlap]), "and to the RSIB"
    listing = await command(world, "rsib", "lst", "!luckor nacka")
    assert gap in listing and overlap in listing

    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await settle(app)
    rung = [n for n in await highlights(world.hs, world.people["outsider"]) if n["sender"] == world.bot.user_id]
    assert rung, "the person the feed names is rung"
    assert not [n for n in await highlights(world.hs, world.people["nacka"])
                if n["sender"] == world.bot.user_id and n["room_id"] == world.rooms["samordnande"]], \
        "the holder the feed does not name is not"

    await rota.next_poll()  # unchanged: 304, and the next hourly look changes nothing
    assert server.requests[-1].status == 304
    await rota.next_poll(timedelta(hours=1))
    assert await home_room_notes(world) == [gap, overlap], "not told again on the next pass"

    server.serve(calendar(gap=False, overlap=False))  # the municipality fills the gap: a new ETag
    await rota.next_poll()
    assert "Inga luckor" in await command(world, "rsib", "lst", "!luckor")

    server.fail(500)
    await rota.next_poll()
    # a calendar with a rule the expansion cannot read: refused at read as what is not a calendar is, never half taken
    server.serve(calendar(gap=False, overlap=False).replace("FREQ=WEEKLY;INTERVAL=2", "FREQ=FORTNIGHTLY"))
    await rota.next_poll(2 * EVERY)
    rota.clock.set(datetime(2026, 10, 31, 10, tzinfo=UTC))  # Nina's swap, in the week an EXDATE took from Olle
    await rota.polled()
    who = await command(world, "tib", "samordnande", "!vem nacka-tib")
    assert f"{nina} (enligt Nacka kommuns beredskapsschema) till fre 6 nov 07:00" in who, "the last good rota is kept"
    notes = await home_room_notes(world)
    assert len(notes) == 3, "a broken feed rings nobody: only its organisation is told, once, that it is stale"
    assert notes[2].startswith("Beredskapsschemat för TiB, Nacka kommun har inte gått att hämta sedan mån 26 okt")
    healthy, why = await check(rota.settings(), rota.clock.now())
    assert not healthy and "schedule:nacka-tib feed stale since" in why

    server.fail(500)  # a restart while the feed is broken: the stored copy still knows the rota
    await rota.restart()
    who = await command(world, "tib", "samordnande", "!vem nacka-tib")
    assert f"{nina} (enligt Nacka kommuns beredskapsschema)" in who
    assert len(await home_room_notes(world)) == 3, "stale: told once, also across the restart"


async def test_a_gap_still_there_a_day_before_is_told_again_once(rota: Rota) -> None:
    world = rota.world
    rota.server.serve(calendar(overlap=False))
    rota.clock.set(datetime(2026, 11, 4, 12, tzinfo=UTC))  # 42 hours before the gap of Friday 6 November
    await rota.start()
    await wait_for(lambda: _count(world, 1))
    rota.clock.advance(timedelta(hours=16))  # 26 hours before: not yet
    await rota.polled()
    assert len(await home_room_notes(world)) == 1
    rota.clock.advance(timedelta(hours=3))  # 23 hours before
    await rota.polled()
    notes = await home_room_notes(world)
    assert len(notes) == 2 and notes[1].startswith("Om mindre än ett dygn: Ingen i tjänst som TiB, Nacka kommun")
    rota.clock.advance(timedelta(hours=2))
    await rota.polled()
    assert len(await home_room_notes(world)) == 2, "reminded once"


async def test_a_holder_named_after_a_label_in_the_summary_is_rung_and_never_called_unknown(rota: Rota) -> None:
    world = rota.world
    week = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Solna stad//Jour//SV\r\n"
            "BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20261001T000000Z\r\nSUMMARY:TiB: Olle Olsson\r\n"
            "DTSTART;TZID=Europe/Stockholm:20261023T070000\r\nDTEND;TZID=Europe/Stockholm:20261030T070000\r\n"
            "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:w2\r\nDTSTAMP:20261001T000000Z\r\nSUMMARY:Beredskap – Nina Nilsson\r\n"
            "DTSTART;TZID=Europe/Stockholm:20261030T070000\r\nDTEND;TZID=Europe/Stockholm:20261215T070000\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    rota.server.serve(week)
    await rota.start()
    who = await command(world, "tib", "samordnande", "!vem nacka-tib")
    line = next(line for line in who.splitlines() if "TiB, Nacka kommun:" in line)
    assert f"{world.people['admin'].user_id} (enligt Nacka kommuns beredskapsschema) till fre 30 okt 07:00" in line
    assert world.people["nacka"].user_id not in line, "the schedule answers, not the holders list"
    await rota.next_poll(timedelta(hours=1))
    assert await home_room_notes(world) == [], "both are people the bot knows: nothing to tell"
    assert "Inga luckor" in await command(world, "rsib", "lst", "!luckor")


async def _count(world: World, count: int) -> bool:
    return len([n for n in await home_room_notes(world) if n.startswith("Ingen i tjänst")]) == count


async def test_a_spreadsheet_export_is_imported_whole_or_not_at_all_and_the_bot_rings_by_it(world: World) -> None:
    data = base_config(world)
    data["person"] = [{"user": world.people["outsider"].user_id, "name": "Nina Nilsson", "email": "nina@nacka.se"}]
    config = world.tmp / "config.toml"
    config.write_text(tomli_w.dumps(data), encoding="utf-8")
    sheet = world.tmp / "nacka-tib.csv"

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "roster", "import", str(sheet),
                                                        "--config", str(config), *args],
                                       capture_output=True, text=True, timeout=60)

    sheet.write_text("start;slut;person\n2026-10-23 07:00;2026-10-30 07:00;Nina Nilsson\n"
                     "2026-10-30 07:00;2026-10-29 07:00;nina@nacka.se\n"
                     "2026-11-06 07:00;2026-11-13 07:00;Maja Svensson\n"
                     "fredag;2026-11-20 07:00;Nina Nilsson\n", encoding="utf-8")
    refused = await run("--function", "nacka-tib")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[1:] == [
        "  row 3: the shift ends before it starts",
        "  row 4: 'Maja Svensson' is nobody the configuration knows (add a [[person]] with this name or e-mail "
        "address)",
        "  row 5: cannot read the times 'fredag', '2026-11-20 07:00' (write 2026-11-02 07:00)"]
    assert "Traceback" not in refused.stderr

    sheet.write_text("start,end,person\n2026-10-23 07:00,2026-10-30 07:00,Nina Nilsson\n"
                     "2026-10-30 07:00,2026-11-06 07:00,nina@nacka.se\n", encoding="utf-8")
    unknown = await run("--function", "nacka-tbi")
    assert unknown.returncode == 1 and "unknown function 'nacka-tbi'" in unknown.stderr
    await world.start_bot(world.settings(lambda d: d.update(person=data["person"])), FakeClock(START))
    who = await command(world, "tib", "samordnande", "!vem nacka-tib")
    assert world.people["outsider"].user_id not in who, "nothing was written by the refused imports"
    await world.stop_bots()

    done = await run("--function", "nacka-tib")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 shifts imported for nacka-tib")
    await world.start_bot(world.settings(lambda d: d.update(person=data["person"])), FakeClock(START))
    who = await command(world, "tib", "samordnande", "!vem nacka-tib")
    assert f"{world.people['outsider'].user_id} (enligt Nacka kommuns beredskapsschema) till fre 30 okt 07:00" in who
    listing = await command(world, "rsib", "lst", "!luckor nacka")
    assert "Ingen funktion har ett beredskapsschema" not in listing, "an imported schedule is a schedule"
    assert "Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) fre 6 nov 07:00 – minst till" in listing, listing
