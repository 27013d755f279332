"""Scheduled meetings, the meeting log and the minutes on the real homeserver, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from support import World, bot_files, bot_said, command, direct_messages, download, react, settle, wait_for

from bot.app import App
from bot.domain.clock import FakeClock
from bot.domain.meetings import occurrences
from bot.state.models import LogEntry

TZ = ZoneInfo("Europe/Stockholm")


def next_meeting(world: World) -> datetime:
    """The start of the test forum's next weekly meeting (10:00, three days from today)."""
    meeting = world.settings().forums[0].meetings[0]
    return occurrences(meeting, datetime.now(UTC) + timedelta(days=2), TZ)[0]


async def bot_file(world: World, room: str, prefix: str) -> dict[str, Any] | None:
    found = await bot_files(world, room, prefix)
    return found[-1] if found else None


async def dms_with(world: World, app: App, who: str, needle: str, count: int = 1) -> list[dict[str, Any]]:
    """The bot's direct messages to `who` that contain `needle`, once there are `count` of them."""
    found = [m for m in await direct_messages(world, app, who) if needle in m["content"]["body"]]
    return found if len(found) >= count else []


async def test_a_chefsgrupp_meeting_has_its_own_agenda_and_asks_for_no_lagesbild(world: World) -> None:
    def chefsgrupp(data: dict[str, Any]) -> None:
        data["forum"][0]["meeting"] = [{"name": "Chefsgruppens möte", "kind": "chefsgrupp",
                                        "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0"}]
    settings = world.settings(chefsgrupp)
    starts = occurrences(settings.forums[0].meetings[0], datetime.now(UTC) + timedelta(days=2), TZ)[0]
    clock = FakeClock(starts - timedelta(hours=24, minutes=2))
    app = await world.start_bot(settings, clock=clock)
    clock.advance(timedelta(minutes=3))
    assert await app.meetings.run_due() == 1, "the convocation only: no request for lägesbilder"
    await settle(app)
    bodies = [m["content"]["body"] for m in await direct_messages(world, app, "sos")]
    assert len(bodies) == 1
    assert "Kallelse till den regionala chefsgruppens möte" in bodies[0]
    assert "ekonomisk uppföljning" in bodies[0] and "väder och varningar" not in bodies[0]
    clock.set(starts - timedelta(minutes=5))
    assert await app.meetings.run_due() == 1, "the reminder; no deadline and no weekly summary"
    clock.set(starts)
    assert await app.meetings.run_due() == 1, "the opening"
    await settle(app)
    assert not await bot_said(world, "samordnande", "Regional lägesbild")
    assert not await bot_said(world, "samordnande", "har gått ut")


async def test_a_weekly_meeting_is_convened_reminded_opened_logged_and_minuted_across_restarts(world: World) -> None:
    starts = next_meeting(world)
    clock = FakeClock(starts - timedelta(hours=24, minutes=2))
    app = await world.start_bot(clock=clock)
    assert await app.meetings.run_due() == 0  # a fresh bot has missed nothing

    clock.advance(timedelta(minutes=3))
    assert await app.meetings.run_due() == 2  # the convocation and the request for situation reports
    convened = (await direct_messages(world, app, "sos"))[0]["content"]["body"]
    assert "Kallelse till veckomöte (samverkanskonferens)" in convened and "Veckomöte" in convened
    assert "tel:+46812345678,,4711%23" in (await direct_messages(world, app, "sos"))[0]["content"]["formatted_body"]
    await command(world, "tib", "samordnande", "!kvittera")

    # Down over the reminder: it is sent at start, once, and only to who has not acknowledged.
    await world.stop_bots()
    clock.set(starts - timedelta(minutes=10))
    app = await world.start_bot(clock=clock)
    reminder = await wait_for(lambda: dms_with(world, app, "sos", "Kallelse till veckomöte", 2))
    assert "PÅMINNELSE" in reminder[-1]["content"]["body"]
    await world.stop_bots()
    app = await world.start_bot(clock=clock)
    await settle(app)
    assert len(await dms_with(world, app, "sos", "Kallelse till veckomöte")) == 2  # nothing twice
    assert len(await dms_with(world, app, "tib", "Kallelse till veckomöte")) == 1

    clock.set(starts + timedelta(minutes=1))
    assert await app.meetings.run_due() == 1
    assert await wait_for(lambda: bot_said(world, "samordnande", "Veckomöte har börjat"))
    assert "Upprop: Veckomöte" in await command(world, "tib", "samordnande", "!upprop")
    call = (await wait_for(lambda: bot_said(world, "samordnande", "Upprop: Veckomöte")))[0]
    await react(world.clients["sos"], world.rooms["samordnande"], call["event_id"])
    assert "Närvarande: Tjänsteman i beredskap (TiB)" in await command(world, "tib", "samordnande", "!här")
    assert "Antecknat: beslut" in await command(world, "tib", "samordnande", "!beslut Länsgemensamt budskap om snö")
    await command(world, "tib", "samordnande", "!inriktning Prioritera framkomlighet till sjukhusen")
    action = await command(world, "tib", "samordnande", "!åtgärd sos-vakthavande samla in lägesbilder senast 23:59")
    assert "Antecknat: åtgärd" in action
    await command(world, "sos", "samordnande", "!info 112 har normalt tryck")
    await command(world, "sos", "samordnande", "!info fel text")
    assert "Struket: " in await command(world, "sos", "samordnande", "!ångra")
    assert "Öppna åtgärder" in await command(world, "sos", "samordnande", "!status samordnande")
    assert "BESLUT" in (await wait_for(lambda: bot_said(world, "logg", "Länsgemensamt budskap")))[0]["content"]["body"]

    ended = await command(world, "tib", "samordnande", "!möte slut")
    assert "Veckomöte avslutades" in ended
    minutes = (await wait_for(lambda: bot_said(world, "logg", "Minnesanteckningar: Veckomöte")))[0]["content"]
    for needle in ("Närvarande (2)", "Vakthavande, SOS Alarm", "Länsgemensamt budskap om snö",
                   "Prioritera framkomlighet", "samla in lägesbilder", "ansvarig: Vakthavande, SOS Alarm",
                   "112 har normalt tryck"):
        assert needle in minutes["body"], needle
    assert "fel text" not in minutes["body"]
    assert await wait_for(lambda: bot_said(world, "lst", "Minnesanteckningar: Veckomöte"))  # to the home organisation
    again = await command(world, "tib", "samordnande", "!möte slut")
    assert "Inget möte pågår" in again, "a second end publishes nothing"
    await settle(app)
    assert len(await bot_said(world, "logg", "Minnesanteckningar: Veckomöte")) == 1, "one set in the log room"
    assert len(await bot_said(world, "lst", "Minnesanteckningar: Veckomöte")) == 1, "and one in the home room"
    due = (starts.astimezone(TZ).replace(hour=23, minute=59)).astimezone(UTC)
    clock.set(due - timedelta(minutes=30))
    assert await app.timers.fire_due() == 1
    owner = await wait_for(lambda: dms_with(world, app, "sos", "Påminnelse: åtgärd"))
    reminder_body = owner[-1]["content"]["body"]
    assert "Påminnelse: åtgärd" in reminder_body and "samla in lägesbilder" in reminder_body
    page = await wait_for(lambda: bot_file(world, "logg", "minnesanteckningar-samordnande-"))
    assert "Länsgemensamt budskap om snö" in await download(world, page)


async def test_a_meeting_that_passed_while_the_bot_was_down_is_recorded_as_missed(world: World) -> None:
    starts = next_meeting(world)
    clock = FakeClock(starts - timedelta(hours=25))
    await world.start_bot(clock=clock)
    await world.stop_bots()
    clock.set(starts + timedelta(hours=2))
    app = await world.start_bot(clock=clock)
    missed = await wait_for(lambda: bot_said(world, "samordnande", "noterat som missat"))
    assert len(missed) == 1 and missed[0]["content"]["msgtype"] == "m.text"  # it rings the chair
    assert world.people["tib"].user_id in missed[0]["content"]["m.mentions"]["user_ids"]
    await settle(app)
    assert not await bot_said(world, "samordnande", "Kallelse")


async def test_one_meeting_is_moved_and_another_cancelled(world: World) -> None:
    starts = next_meeting(world)
    clock = FakeClock(starts - timedelta(days=3))
    await world.start_bot(clock=clock)
    local = starts.astimezone(TZ)
    schedule = await command(world, "sos", "samordnande", "!schema")
    assert f"v. {local.isocalendar().week}" in schedule and "Veckomöte" in schedule
    day = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")[local.weekday()]
    moved = await command(world, "tib", "samordnande", f"!flytta samordnande {day} 10:00 till {day} 13:00")
    assert "är flyttat" in moved and "13:00" in moved
    assert "flyttat från" in await command(world, "sos", "samordnande", "!schema samordnande")
    assert "du får inte" in (await command(world, "sos", "samordnande", "!ställ-in samordnande")).lower()
    assert "Inget planerat möte" in await command(world, "tib", "samordnande", "!ställ-in samordnande 03:17")
    cancelled = await command(world, "tib", "samordnande", f"!ställ-in samordnande {day} 13:00")
    assert "är inställt" in cancelled
    assert "INSTÄLLT" in await command(world, "sos", "samordnande", "!schema samordnande")
    assert "Kalender för Regionalt samordnande forum" in await command(world, "sos", "samordnande", "!kalender")
    ics = await download(world, await wait_for(lambda: bot_file(world, "samordnande", "samordnande.ics")))
    assert ics.startswith("BEGIN:VCALENDAR") and "STATUS:CANCELLED" in ics


async def test_the_first_meeting_of_an_activation_and_log_entries_outside_meetings(world: World) -> None:
    await world.start_bot()
    assert "Starta ett möte med !möte start" in await command(world, "tib", "samordnande", "!beslut något")
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    assert "Antecknat: beslut" in await command(world, "tib", "samordnande", "!beslut Aktivering bekräftad")
    await command(world, "tib", "samordnande", "!möte start")
    opened = (await wait_for(lambda: bot_said(world, "samordnande", "har börjat")))[0]["content"]["body"]
    assert "Det första mötet i aktiveringen leds och dokumenteras" in opened
    assert "pågår redan" in await command(world, "sos", "samordnande", "!möte start")
    assert "ordförande" in await command(world, "tib", "samordnande", "!ordförande sos-vakthavande")
    secretary = await command(world, "sos", "samordnande", "!sekreterare nacka-tib")
    assert "Sekreterare (för minnesanteckningar): TiB, Nacka kommun." in secretary
    assert "du får inte" in (await command(world, "nacka", "samordnande", "!ordförande nacka-tib")).lower()
    await command(world, "sos", "samordnande", "!möte slut")
    minutes = await command(world, "sos", "samordnande", "!protokoll")
    assert "Ordförande: Vakthavande, SOS Alarm" in minutes and "Sekreterare: TiB, Nacka kommun" in minutes
    assert "AKTIVERAT (storm)" in minutes


async def test_undo_withdraws_only_your_own_latest_entry(world: World) -> None:
    """Two authors: !ångra withdraws the sender's latest entry, never the other's; again, the one before."""
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!möte start samordnande")
    await command(world, "tib", "samordnande", "!info TiB:s första")
    await command(world, "tib", "samordnande", "!info TiB:s andra")
    await command(world, "sos", "samordnande", "!info SOS senaste")
    withdrawn = await command(world, "tib", "samordnande", "!ångra")
    assert "TiB:s andra" in withdrawn and "SOS senaste" not in withdrawn
    assert "TiB:s första" in await command(world, "tib", "samordnande", "!ångra")
    assert "Du har ingen post i loggen att stryka" in await command(world, "nacka", "samordnande", "!ångra")
    async with app.db.session() as session:
        entries = (await session.exec(select(LogEntry).order_by(col(LogEntry.id)))).all()
    assert [(e.text, e.withdrawn_at is not None) for e in entries] == [
        ("TiB:s första", True), ("TiB:s andra", True), ("SOS senaste", False)]


async def test_a_direction_of_the_inriktande_forum_reaches_the_samordnande_forum_of_the_same_event(
        world: World) -> None:
    """Seed 000: the samordnande forum works within the frame the inriktande forum sets."""
    await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    await command(world, "tib", "inriktande", "!aktivera inriktande storm")
    await command(world, "tib", "inriktande", "!inriktning skolor och förskolor stängda i morgon")
    posted = await wait_for(lambda: bot_said(world, "samordnande", "INRIKTNING #"))
    assert len(posted) == 1
    heading, text = posted[0]["content"]["body"].splitlines()
    assert heading.endswith(" från Regionalt inriktande forum (storm):")
    assert text == "skolor och förskolor stängda i morgon"
    catchup = await command(world, "nacka", "samordnande", "!ikapp")
    assert "Inriktning som gäller från Regionalt inriktande forum" in catchup
    assert "skolor och förskolor stängda i morgon" in catchup
    status = await command(world, "nacka", "samordnande", "!status samordnande")
    assert "Inriktning som gäller från Regionalt inriktande forum" in status and "skolor och förskolor" in status

    await command(world, "tib", "inriktande", "!aktivera inriktande flod ny")  # another event up there
    await command(world, "tib", "inriktande", "!inriktning evakuera Kungsholmen")
    await command(world, "tib", "inriktande", "!beslut bandvagnar till sjukvården")
    await settle_all(world)
    assert len(await bot_said(world, "samordnande", "INRIKTNING #")) == 1, "not the other event's, not decisions"
    assert "evakuera" not in await command(world, "nacka", "samordnande", "!ikapp")


async def settle_all(world: World) -> None:
    for app in world.apps:
        await settle(app)
