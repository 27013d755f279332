"""Joint public messages (gemensamt budskap, seed 000 and scene 3): drafted, answered by each organisation
of the composition, revised, fixed, pinned and sent to the log and home rooms; every version and answer kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from support import World, bot_said, command, highlights, react, record_files, room_state, settle, wait_for

from bot.domain.clock import FakeClock
from bot.state.models import JointMessageAnswer, JointMessageVersion

FIXED = "GEMENSAMT BUDSKAP #1 — fastställt"


async def _answers(app: Any) -> list[tuple[int, str, bool]]:
    async with app.db.session() as session:
        rows = (await session.exec(select(JointMessageAnswer).order_by(col(JointMessageAnswer.id)))).all()
    return [(a.version, a.organisation_id, a.approved) for a in rows]


async def test_a_joint_message_is_answered_revised_and_fixed_once_by_the_chair(world: World) -> None:
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    drafted = await command(world, "tib", "samordnande",
                            "!budskap samordnande Undvik onödiga resor i kväll. senast om 2h")
    assert "Budskap #1 är skickat" in drafted
    ping = (await wait_for(lambda: bot_said(world, "samordnande", "GEMENSAMT BUDSKAP #1 att godkänna")))[0]
    assert ping["content"]["msgtype"] == "m.text", "the draft rings"
    assert set(ping["content"]["m.mentions"]["user_ids"]) == {world.people[p].user_id
                                                              for p in ("tib", "rsib", "sos", "nacka")}
    first_line = ping["content"]["body"].splitlines()[0]
    assert "svar senast" in first_line, "what and by when on the lock screen"
    rung = [e["content"].get("body", "") for e in await highlights(world.hs, world.people["nacka"])]
    assert sum("GEMENSAMT BUDSKAP #1" in body for body in rung) == 1
    quiet = [e["content"].get("body", "") for e in await highlights(world.hs, world.people["outsider"])]
    assert not any("BUDSKAP" in body for body in quiet)

    # SOS Alarm approves with a ✅ on the ping; Nacka objects with a reason; an objection without one is refused.
    await react(world.clients["sos"], world.rooms["samordnande"], ping["event_id"])
    await wait_for(lambda: bot_said(world, "samordnande", "SOS Alarm står bakom budskap #1 (version 1)"))
    no_reason = await command(world, "nacka", "samordnande", "!budskap invänd 1")
    assert "Skriv orsaken" in no_reason and "Användning" in no_reason
    objected = await command(world, "nacka", "samordnande", "!budskap invänd 1 Nämn kollektivtrafiken")
    assert "Invändning från Nacka kommun" in objected
    assert await _answers(app) == [(1, "sos", True), (1, "nacka", False)]
    where = await command(world, "tib", "samordnande", "!budskap 1")
    assert "Står bakom: SOS Alarm" in where and "Nacka kommun: Nämn kollektivtrafiken" in where
    assert "Har inte svarat: Länsstyrelsen Stockholm" in where

    # Nacka may not fix it; the chair revises, and the round starts again.
    refused = await command(world, "nacka", "samordnande", "!budskap fastställ 1")
    assert "Du får inte" in refused
    revised = await command(world, "tib", "samordnande",
                            "!budskap ändra 1 Undvik onödiga resor i kväll; kollektivtrafiken går enligt plan.")
    assert "version 2" in revised
    await wait_for(lambda: bot_said(world, "samordnande", "GEMENSAMT BUDSKAP #1, version 2 (ändrat)"))
    await react(world.clients["sos"], world.rooms["samordnande"], ping["event_id"], "👍")  # on the old version
    await wait_for(lambda: bot_said(world, "samordnande", "version 2 gäller nu, inte version 1"))
    for who in ("sos", "nacka"):
        answer = await command(world, who, "samordnande", "!budskap ok 1")
        assert "står bakom budskap #1 (version 2)" in answer and "Alla organisationer" not in answer
    assert "Alla organisationer står nu bakom" in await command(world, "rsib", "samordnande", "!budskap ok #1")
    again = await command(world, "sos", "samordnande", "!budskap ok 1")
    assert "står redan bakom version 2" in again
    assert await _answers(app) == [(1, "sos", True), (1, "nacka", False), (2, "sos", True), (2, "nacka", True),
                                   (2, "lst", True)]

    fixed = await command(world, "tib", "samordnande", "!budskap fastställ 1")
    assert "är fastställt" in fixed
    assert "är redan fastställt" in await command(world, "tib", "samordnande", "!budskap fastställ 1")
    assert "är redan fastställt" in await command(world, "nacka", "samordnande", "!budskap ok 1")
    await settle(app)
    for room in ("samordnande", "logg", "lst"):
        published = await bot_said(world, room, FIXED)
        assert len(published) == 1, room
        assert published[0]["content"]["msgtype"] == "m.notice", "the published text wakes nobody"
        assert "kollektivtrafiken går enligt plan" in published[0]["content"]["body"]
        assert "Står bakom: Länsstyrelsen Stockholm, SOS Alarm, Nacka kommun" in published[0]["content"]["body"]
    pinned = await room_state(world.clients["tib"], world.rooms["samordnande"], "m.room.pinned_events")
    assert (await bot_said(world, "samordnande", FIXED))[0]["event_id"] in pinned["pinned"]
    assert await _answers(app) == [(1, "sos", True), (1, "nacka", False), (2, "sos", True), (2, "nacka", True),
                                   (2, "lst", True)], "nothing answered after it was fixed"

    # The record keeps both versions and every answer.
    await command(world, "tib", "samordnande", "!export samordnande")

    data, _ = await record_files(world, "samordnande", "dokumentation-")
    [message] = data["joint_messages"]
    assert [v["version"] for v in message["versions"]] == [1, 2] and message["fixed_version"] == 2
    assert [(a["organisation"], a["approved"]) for a in message["versions"][0]["answers"]] == [("sos", True),
                                                                                             ("nacka", False)]
    assert [e["kind"] for e in data["log"]] == ["message"]
    async with app.db.session() as session:
        assert len((await session.exec(select(JointMessageVersion))).all()) == 2

    # Deactivation takes down the activation's banner; the fixed joint message stays pinned.
    banner = (await bot_said(world, "samordnande", "AKTIVERAT"))[0]["event_id"]
    fixed_id = (await bot_said(world, "samordnande", FIXED))[0]["event_id"]
    assert banner in pinned["pinned"]
    await command(world, "tib", "samordnande", "!avaktivera samordnande")

    async def pinned_now() -> list[str]:
        return list((await room_state(world.clients["tib"], world.rooms["samordnande"],
                                      "m.room.pinned_events"))["pinned"])

    async def banner_gone() -> bool:
        return banner not in await pinned_now()

    await wait_for(banner_gone)
    assert await pinned_now() == [fixed_id], "the fixed joint message stays pinned"


async def test_only_the_composition_answers_and_bad_numbers_get_a_sentence(world: World) -> None:
    """In ordinary mode the samordnande forum is the TiB and SOS Alarm: Nacka kommun is not asked."""
    app = await world.start_bot()
    assert "Budskap #1 är skickat" in await command(world, "sos", "samordnande",
                                                    "!budskap samordnande Information om demonstrationen i morgon")
    refused = await command(world, "nacka", "samordnande", "!budskap ok 1")
    assert "bara organisationer i sammansättningen" in refused
    assert "inget budskap #7" in await command(world, "sos", "samordnande", "!budskap ok 7")
    bad = await command(world, "sos", "samordnande", "!budskap ok sju")
    assert "Ange budskapets nummer" in bad and "Användning" in bad
    past = await command(world, "sos", "samordnande", "!budskap samordnande Text senast 2020-01-01 10:00")
    assert "har redan varit" in past and "Användning: !budskap" in past
    listed = await command(world, "tib", "samordnande", "!budskap")
    assert "Budskap #1, version 1" in listed and "Har inte svarat: Länsstyrelsen Stockholm, SOS Alarm" in listed
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    listed = await command(world, "tib", "samordnande", "!budskap")
    assert "Inga gemensamma budskap väntar" in listed, "one of ordinary mode is not of the activation"
    assert await _answers(app) == []
    await settle(app)
    pinged = await bot_said(world, "samordnande", "GEMENSAMT BUDSKAP #1 att godkänna")
    assert set(pinged[0]["content"]["m.mentions"]["user_ids"]) == {world.people["tib"].user_id,
                                                                   world.people["sos"].user_id}
    assert not await bot_said(world, "samordnande", "GEMENSAMT BUDSKAP #2")


async def test_when_the_time_for_answers_is_up_the_author_hears_once_where_it_stands(world: World) -> None:
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(clock=clock)
    await command(world, "sos", "samordnande", "!budskap samordnande Undvik city i morgon senast om 1h")
    await command(world, "tib", "samordnande", "!budskap samordnande Vattnet är drickbart senast om 1h")
    assert "står bakom" in await command(world, "sos", "samordnande", "!budskap ok 1")
    assert "är fastställt" in await command(world, "tib", "samordnande", "!budskap fastställ 2")

    clock.advance(timedelta(minutes=59))
    assert await app.timers.fire_due() == 0
    clock.advance(timedelta(minutes=2))
    assert await app.timers.fire_due() == 1, "message 1 only: message 2 is fixed"
    assert await app.timers.fire_due() == 0, "once"
    await settle(app)
    told = await bot_said(world, "samordnande", "SVARSTIDEN HAR GÅTT UT")
    assert len(told) == 1 and "budskap #1" in told[0]["content"]["body"]
    assert told[0]["content"]["m.mentions"]["user_ids"] == [world.people["sos"].user_id], "the author, nobody else"
    assert "Har inte svarat: Länsstyrelsen Stockholm" in told[0]["content"]["body"]
