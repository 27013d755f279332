"""Situation reports on the real homeserver: reporting, the compiled picture, requests, chasing, summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from support import (
    World,
    bot_files,
    bot_said,
    command,
    direct_messages,
    direct_room,
    notifications,
    send_text,
    settle,
    wait_for,
    wait_for_reply,
)

from bot.domain.clock import FakeClock
from bot.domain.lagesbild import week_of
from bot.domain.meetings import occurrences

TZ = ZoneInfo("Europe/Stockholm")


async def test_actors_report_and_the_picture_is_compiled(world: World) -> None:
    await world.start_bot()
    week = week_of(datetime.now(UTC), TZ)[1]
    answer = await command(world, "sos", "samordnande", "!rapport konsekvenser: högt tryck på 112 ; behov: inga")
    assert f"Lägesbild från SOS Alarm mottagen (vecka {week})" in answer and "1 av 2 aktörer" in answer
    multi = await send_text(world.clients["tib"], world.rooms["samordnande"],
                            "!rapport Läget är stabilt <b>men</b> ansträngt\nsamordning: gemensamt budskap om el")
    assert "2 av 2 aktörer" in (await wait_for_reply(world.clients["tib"], world.rooms["samordnande"],
                                                     multi))["content"]["body"]
    relayed = await command(world, "rsib", "samordnande", "!rapport för Nacka kommun elavbrott i Boo")
    assert "Lägesbild från Nacka kommun mottagen" in relayed
    unknown = await command(world, "sos", "samordnande", "!rapport väder: mycket snö; konsekvenser: köer")
    assert "Okänt fält (väder)" in unknown and "konsekvenser" in unknown
    assert "Rapporten är tom" in await command(world, "sos", "samordnande", "!rapport")
    closed = 1 if week != 1 else 2
    assert "har gått ut" in await command(world, "sos", "samordnande", f"!rapport vecka {closed} gammal text")
    if week < 53:
        assert "tas inte emot än" in await command(world, "sos", "samordnande", f"!rapport vecka {week + 1} ny text")
    assert "du får inte" in (await command(world, "sos", "inriktande", "!rapport inriktande läget")).lower()

    reply = await send_text(world.clients["sos"], world.rooms["samordnande"], "!lägesbild")
    picture = (await wait_for_reply(world.clients["sos"], world.rooms["samordnande"], reply))["content"]
    body = picture["body"]
    # Nacka kommun is not in the ordinary composition, but its relayed report is shown, so it counts.
    assert f"Regional lägesbild vecka {week}" in body and "3 av 3 aktörer har rapporterat" in body
    assert body.index("Behov av samordning") < body.index("Konsekvenser")
    assert "köer" in body and "högt tryck på 112" not in body  # the newer report replaced the older
    assert "Nacka kommun (förmedlad): elavbrott i Boo" in body
    assert "&lt;b&gt;men&lt;/b&gt;" in picture["formatted_body"] and "<b>men</b>" not in picture["formatted_body"]
    assert await bot_files(world, "samordnande", "lagesbild-samordnande-") == [], "a file only on request"
    await command(world, "sos", "samordnande", "!lägesbild fil")
    files = await wait_for(lambda: bot_files(world, "samordnande", "lagesbild-samordnande-"))
    assert len(files) == 1 and files[0]["content"]["body"].endswith(".html")
    assert "Lägesbild från SOS Alarm" in await command(world, "sos", "samordnande", "!rapport ingen förändring")

    catchup = await command(world, "nacka", "samordnande", "!ikapp")
    assert "Regional lägesbild vecka" in catchup and "nästa möte" in catchup


async def test_reports_are_requested_chased_at_the_deadline_and_summarised(world: World) -> None:
    meeting = world.settings().forums[0].meetings[0]
    starts = occurrences(meeting, datetime.now(UTC) + timedelta(days=2), TZ)[0]
    clock = FakeClock(starts - timedelta(hours=24, minutes=2))
    app = await world.start_bot(clock=clock)
    for who in ("tib", "sos"):  # people have accepted the bot's direct room by the time it asks
        await world.clients[who].join(await direct_room(app, world.people[who]))
    clock.advance(timedelta(minutes=3))
    await app.meetings.run_due()
    for who in ("tib", "sos"):
        asked = await wait_for(lambda who=who: _dm_with(world, app, who, "Rapportera lägesbilden"))  # type: ignore[misc]
        room_id = asked["room_id"]
        rang = await notifications(world.hs, world.people[who])
        assert any(n["room_id"] == room_id and "Rapportera lägesbilden" in n["content"].get("body", "") for n in rang)
    await command(world, "tib", "samordnande", "!rapport samordning: snöröjning av riksvägar")

    clock.set(starts - timedelta(hours=2))
    await app.meetings.run_due()
    chase = (await wait_for(lambda: bot_said(world, "samordnande", "har gått ut")))[0]["content"]
    assert "1 av 2 aktörer har rapporterat" in chase["body"] and "Ingen rapport från: SOS Alarm" in chase["body"]
    assert world.people["sos"].user_id in chase["m.mentions"]["user_ids"]
    assert await wait_for(lambda: _dm_with(world, app, "sos", "saknas"))
    await settle(app)
    assert await _dm_with(world, app, "tib", "saknas") is None, "the TiB reported: no reminder"
    assert len([m for m in await direct_messages(world, app, "sos") if "saknas" in m["content"]["body"]]) == 1

    clock.set(starts - timedelta(minutes=9))
    await app.meetings.run_due()
    week = week_of(starts, TZ)[1]
    for room in ("samordnande", "logg"):
        summary = (await wait_for(lambda room=room: bot_said(world, room, f"Regional lägesbild vecka {week}")))  # type: ignore[misc]
        assert "snöröjning av riksvägar" in summary[0]["content"]["body"]


async def test_a_monday_meeting_convened_on_friday_gets_the_reports_filed_over_the_weekend(world: World) -> None:
    """The request goes out in the week before the meeting's; a report filed then is the meeting's, so
    at the deadline the one who reported is counted and not chased."""
    def monday(data: dict[str, Any]) -> None:
        data["forum"][0]["meeting"] = [{"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
                                        "convene_before": "72h", "report_due_before": "2h"}]
    settings = world.settings(monday)
    starts = occurrences(settings.forums[0].meetings[0], datetime.now(UTC) + timedelta(days=4), TZ)[0]
    clock = FakeClock(starts - timedelta(hours=72, minutes=1))  # Friday 08:59
    app = await world.start_bot(settings, clock=clock)
    for who in ("tib", "sos"):
        await world.clients[who].join(await direct_room(app, world.people[who]))
    clock.advance(timedelta(minutes=2))
    await app.meetings.run_due()
    await wait_for(lambda: _dm_with(world, app, "tib", "Rapportera lägesbilden"))
    clock.set(starts - timedelta(hours=40))  # Saturday, still the week before the meeting's
    assert week_of(clock.now(), TZ) != week_of(starts, TZ)
    week = week_of(starts, TZ)[1]
    answer = await command(world, "tib", "samordnande", "!rapport konsekvenser: snödrev på E4")
    assert f"(vecka {week})" in answer and "1 av 2 aktörer har rapporterat" in answer

    clock.set(starts - timedelta(hours=2))
    await app.meetings.run_due()
    chase = (await wait_for(lambda: bot_said(world, "samordnande", f"lägesbild vecka {week} har gått ut")))
    assert len(chase) == 1
    assert "1 av 2 aktörer har rapporterat" in chase[0]["content"]["body"]
    missing = next(line for line in chase[0]["content"]["body"].splitlines() if line.startswith("Ingen rapport från"))
    assert missing == "Ingen rapport från: SOS Alarm", "the TiB's organisation reported"
    await wait_for(lambda: _dm_with(world, app, "sos", "saknas"))
    await settle(app)
    assert await _dm_with(world, app, "tib", "saknas") is None, "the TiB reported: no reminder"


async def _dm_with(world: World, app: Any, who: str, needle: str) -> dict[str, Any] | None:
    found = [m for m in await direct_messages(world, app, who) if needle in m["content"]["body"]]
    return found[-1] if found else None
