"""From SMHI's warning to the activation, against the real Synapse with a local server playing SMHI (recorded
IBWW documents in SMHI's structure): the bot proposes once per warning and level, rings exactly those who may
convene, edits without ringing, marks what is gone, and a convener's ✅ activates; a feed that breaks rings
nobody and shows in health."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from feeds import SEA, STOCKHOLM, UPPSALA, FeedBot, FeedServer, warning
from sqlmodel import select
from support import World, command, highlights, react, record_files, room_events, send_text, settle, wait_for

from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.ops.health import check
from bot.state.models import AuditEntry, WarningProposal

POLL = timedelta(minutes=5)


@dataclass
class Smhi(FeedBot):
    FEED = "warnings"
    EVERY = POLL

    def settings(self) -> Settings:
        def add(data: dict[str, Any]) -> None:
            data["warnings"] = {"url": f"{self.server.url}/ibww/api/version/1/warning.json", "every": "5m",
                                "counties": [1], "propose": [
                                    {"events": ["SNOW", "WIND_SNOW"], "forum": "samordnande", "event": "snöoväder"},
                                    {"level": "RED", "forum": "inriktande"}]}

        return self.world.settings(add)

    def snow(self, level: str, *, start_in: float = 18, hours: float = 24, published: float = 0,
             **extra: Any) -> dict[str, Any]:
        base = datetime(2026, 12, 4, 12, tzinfo=UTC)
        return warning(7001, 9001, level=level, start=base + timedelta(hours=start_in),
                       end=base + timedelta(hours=start_in + hours), published=base + timedelta(minutes=published),
                       **extra)


@pytest.fixture
async def smhi(world: World) -> AsyncIterator[Smhi]:
    server = FeedServer()
    await server.start()
    yield Smhi(world, server, FakeClock(datetime(2026, 12, 4, 12, 30, tzinfo=UTC)))
    await world.stop_bots()
    await server.stop()


async def bot_events(world: World, room: str) -> list[dict[str, Any]]:
    return [e for e in await room_events(world.clients["rsib"], world.rooms[room])
            if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]


def proposals_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["content"]["body"].startswith("SMHI:")]


def edits_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"]


async def rings(world: World, who: str) -> int:
    """How many of the bot's messages about a warning have rung this person's phone (the homeserver's own
    highlights)."""
    return sum(n["sender"] == world.bot.user_id and "SMHI" in n["content"].get("body", "")
               for n in await highlights(world.hs, world.people[who]))


async def test_a_rising_warning_is_proposed_once_per_level_ringing_only_the_conveners_and_edited_quietly(
        smhi: Smhi) -> None:
    world, server = smhi.world, smhi.server
    sea_only = warning(7002, 9002, code="WIND", level="RED", areas=(SEA,), start=smhi.clock.now(),
                       end=smhi.clock.now() + timedelta(hours=12), published=smhi.clock.now())
    elsewhere = warning(7003, 9003, level="RED", areas=(UPPSALA,), start=smhi.clock.now(),
                        end=smhi.clock.now() + timedelta(hours=12), published=smhi.clock.now())
    server.serve([smhi.snow("YELLOW"), sea_only, elsewhere])
    await smhi.start()
    assert await bot_events(world, "samordnande") == [], "yellow is below the level: no proposal"
    listing = await command(world, "nacka", "samordnande", "!varningar")
    assert "GUL varning snöfall, Stockholms län, lör 07:00 – sön 07:00" in listing
    assert "inget forum aktiverat" in listing
    assert "vind" not in listing.lower() and "Uppsala" not in listing, "a sea district, another county: not ours"

    server.serve([smhi.snow("ORANGE", published=20), sea_only, elsewhere])
    await smhi.next_poll()
    events = proposals_in(await bot_events(world, "samordnande"))
    assert len(events) == 1
    body = events[0]["content"]["body"]
    lines = body.splitlines()
    assert lines[0] == "SMHI: ORANGE varning snöfall, Stockholms län, lör 07:00 – sön 07:00"
    assert lines[1] == "Aktivera samordnande för snöoväder? Svara ✅ eller skriv !aktivera samordnande snöoväder"
    assert "Källa: SMHI (smhi.se)" in body and "> Kraftigt snöfall med 20-30 cm snö väntas, lokalt upp till 40 cm." \
        in lines, "SMHI's text, quoted unaltered on a line of its own, with its source"
    assert lines[lines.index("Vad händer") + 1].startswith("> Kraftigt snöfall"), "a title, then its quote below it"
    assert "Hur kan det påverka" in lines and "> Stora störningar i trafiken. Risk för elavbrott." in lines
    assert events[0]["content"]["m.mentions"] == {"user_ids": [world.people["tib"].user_id]}
    assert await rings(world, "tib") == 1, "the one who may convene is rung"
    for other in ("rsib", "sos", "nacka"):
        assert await rings(world, other) == 0, f"{other} may not convene: not rung"
    assert await bot_events(world, "inriktande") == [], "orange does not concern inriktande"

    await smhi.next_poll()  # the same document: 304
    assert server.requests[-1].status == 304
    assert server.requests[-1].headers.get("If-None-Match") == server.etag
    assert len(proposals_in(await bot_events(world, "samordnande"))) == 1

    server.serve([smhi.snow("RED", published=40), sea_only, elsewhere])
    await smhi.next_poll()
    events = proposals_in(await bot_events(world, "samordnande"))
    assert [e["content"]["body"].splitlines()[0] for e in events] == [
        "SMHI: ORANGE varning snöfall, Stockholms län, lör 07:00 – sön 07:00",
        "SMHI: RÖD varning snöfall, Stockholms län, lör 07:00 – sön 07:00"], "a higher level: one new proposal"
    inriktande = proposals_in(await bot_events(world, "inriktande"))
    assert len(inriktande) == 1
    assert inriktande[0]["content"]["body"].splitlines()[1] == (
        "Aktivera inriktande för snöoväder? Svara ✅ eller skriv !aktivera inriktande snöoväder")
    assert await rings(world, "tib") == 3
    orange = proposals_in(await bot_events(world, "samordnande"))[0]
    superseded = [e for e in edits_in(await bot_events(world, "samordnande"))
                  if e["content"]["m.relates_to"]["event_id"] == orange["event_id"]]
    assert len(superseded) == 1, "the orange proposal is marked once"
    assert superseded[0]["content"]["m.new_content"]["body"].splitlines()[:2] == [
        "UPPGRADERAD TILL RÖD: SMHI: ORANGE varning snöfall, Stockholms län, lör 07:00 – sön 07:00",
        "SMHI har höjt varningen till RÖD. Svara på det nya förslaget i stället."], "it no longer asks"
    assert superseded[0]["content"]["m.new_content"]["msgtype"] == "m.notice", "quietly"
    assert superseded[0]["content"]["m.new_content"]["m.mentions"] == {}

    server.serve([smhi.snow("RED", published=60, start_in=16, hours=30), sea_only, elsewhere])
    await smhi.next_poll()
    for room in ("samordnande", "inriktande"):
        events = await bot_events(world, room)
        red = [e for e in proposals_in(events) if "RÖD" in e["content"]["body"].splitlines()[0]]
        edits = [e for e in edits_in(events) if e["content"]["m.relates_to"]["event_id"] == red[0]["event_id"]]
        assert len(edits) == 1, room
        assert edits[0]["content"]["m.relates_to"]["event_id"] == red[0]["event_id"]
        assert edits[0]["content"]["m.new_content"]["body"].startswith(
            "SMHI: RÖD varning snöfall, Stockholms län, lör 05:00 – sön 11:00"), room
        assert edits[0]["content"]["m.mentions"] == {}
    assert await rings(world, "tib") == 3, "an edit rings nobody"

    # After a restart, a whole answer (no ETag, written otherwise) with what was proposed proposes nothing again.
    server.etags = False
    server.serve(json.dumps([smhi.snow("RED", published=60, start_in=16, hours=30), sea_only, elsewhere], indent=1))
    before = len(await bot_events(world, "samordnande")) + len(await bot_events(world, "inriktande"))
    await smhi.restart()
    assert server.requests[-1].status == 200
    after = len(await bot_events(world, "samordnande")) + len(await bot_events(world, "inriktande"))
    assert after == before and await rings(world, "tib") == 3
    async with smhi.app.db.session() as session:  # type: ignore[union-attr]
        proposals = (await session.exec(select(WarningProposal))).all()
    assert sorted((p.forum_id, p.level) for p in proposals) == [
        ("inriktande", "RED"), ("samordnande", "ORANGE"), ("samordnande", "RED")]


async def test_a_conveners_check_mark_activates_and_anothers_does_not_then_the_warning_goes_quietly(
        smhi: Smhi) -> None:
    world, server = smhi.world, smhi.server
    server.serve([smhi.snow("ORANGE")])
    app = await smhi.start()
    proposal = proposals_in(await bot_events(world, "samordnande"))[0]

    await react(world.clients["nacka"], world.rooms["samordnande"], proposal["event_id"])

    async def refusal() -> dict[str, Any] | None:
        found = [e for e in await bot_events(world, "samordnande") if "Du får inte göra det" in e["content"]["body"]]
        return found[0] if found else None

    told = await wait_for(refusal)
    assert "bara Tjänsteman i beredskap (TiB) kan aktivera Regionalt samordnande forum" in told["content"]["body"]
    assert "ordinarie läge" in await command(world, "rsib", "samordnande", "!status samordnande")

    await react(world.clients["tib"], world.rooms["samordnande"], proposal["event_id"])

    async def activated() -> str | None:
        status = await command(world, "rsib", "samordnande", "!status samordnande")
        return status if "AKTIVERAT: snöoväder" in status else None

    status = await wait_for(activated)
    assert "Utlöst av SMHI: ORANGE varning snöfall, Stockholms län, lör 07:00 – sön 07:00" in status
    assert status.count("ORANGE varning snöfall") == 1, "!status names the warning once"

    async def answered() -> list[dict[str, Any]] | None:
        found = edits_in(await bot_events(world, "samordnande"))
        return found or None

    edit = (await wait_for(answered))[0]
    assert edit["content"]["m.relates_to"]["event_id"] == proposal["event_id"]
    assert edit["content"]["m.new_content"]["body"].splitlines()[1] == (
        f"Aktiverat av Tjänsteman i beredskap (TiB) ({world.people['tib'].user_id}) 13:30: samordnande för "
        "snöoväder."), "the proposal no longer asks: it says who answered it, and when"
    assert "Svara ✅" not in edit["content"]["m.new_content"]["body"]
    assert edit["content"]["m.new_content"]["msgtype"] == "m.notice" and edit["content"]["m.mentions"] == {}
    listing = await command(world, "rsib", "samordnande", "!varningar")
    assert "aktiverat: Regionalt samordnande forum (snöoväder)" in listing
    async with app.db.session() as session:
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "activate"))).all()
    assert [(a.user_id, a.allowed) for a in audit] == [(world.people["nacka"].user_id, False),
                                                        (world.people["tib"].user_id, True)], "the refusal is audited"
    assert json.loads(audit[1].detail)["warning"] == "7001:9001"

    await react(world.clients["tib"], world.rooms["samordnande"], proposal["event_id"], "👍")  # a second yes

    async def already() -> bool:
        return any("är redan aktiverat för snöoväder" in e["content"]["body"]
                   for e in await bot_events(world, "samordnande"))

    await wait_for(already)
    await settle(app)
    async with app.db.session() as session:
        assert len((await session.exec(select(AuditEntry).where(AuditEntry.action == "activate"))).all()) == 2

    rung = {who: await rings(world, who) for who in ("tib", "rsib", "sos", "nacka")}
    server.serve([])  # cancelled: it drops out of SMHI's list
    await smhi.next_poll()
    events = await bot_events(world, "samordnande")
    edits = edits_in(events)
    assert len(edits) == 2 and edits[1]["content"]["m.relates_to"]["event_id"] == proposal["event_id"]
    assert edits[1]["content"]["m.new_content"]["body"].startswith(
        "UPPHÄVD ELLER UTGÅNGEN: SMHI: ORANGE varning snöfall")
    assert edits[1]["content"]["m.new_content"]["body"].splitlines()[1].startswith("Aktiverat av"), \
        "still says it was answered"
    notices = [e for e in events if e["content"]["body"].startswith("SMHI:s varning som snöoväder aktiverades för")]
    assert len(notices) == 1 and notices[0]["content"]["msgtype"] == "m.notice"
    assert {who: await rings(world, who) for who in rung} == rung, "gone, quietly: nobody rung"
    assert "Inga varningar från SMHI" in await command(world, "rsib", "samordnande", "!varningar")

    await send_text(world.clients["tib"], world.rooms["samordnande"], "!export snöoväder")
    data, html = await record_files(world, "samordnande", "dokumentation-snöoväder")
    linked = data["activations"][0]["warning"]
    assert (linked["id"], linked["level"], linked["event"], linked["source"]) == ("7001", "ORANGE", "SNOW", "SMHI")
    assert linked["texts"][0]["text_sv"] == "Kraftigt snöfall med 20-30 cm snö väntas, lokalt upp till 40 cm."
    assert "Utlöst av SMHI: ORANGE varning snöfall" in html


async def test_a_broken_feed_keeps_the_last_good_state_rings_nobody_and_shows_in_health(
        smhi: Smhi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    world, server = smhi.world, smhi.server
    server.serve([smhi.snow("YELLOW")])
    app = await smhi.start()
    settings = smhi.settings()

    server.fail(500)
    await smhi.next_poll()
    await smhi.next_poll(POLL)  # backing off: the next poll comes later each time
    assert (await check(settings, smhi.clock.now()))[0], "two missed polls are not yet stale"
    server.serve(b"{ not json")
    await smhi.next_poll(2 * POLL)
    healthy, why = await check(settings, smhi.clock.now())
    assert not healthy and "warnings feed stale since 2026-12-04T12:30:00+00:00" in why
    server.serve('{"warnings": "not a list"}')
    await smhi.next_poll(4 * POLL)
    server.serve([{"id": 1, "event": {"code": "SNOW"}}])  # valid JSON, not SMHI's structure
    await smhi.next_poll(6 * POLL)
    assert await bot_events(world, "samordnande") == [] and await rings(world, "tib") == 0
    listing = await command(world, "rsib", "samordnande", "!varningar")
    assert "GUL varning snöfall" in listing, "the last good state is kept"
    assert "inget användbart svar från SMHI sedan fre 4 dec 13:30. SMHI har svarat under tiden, men med något som " \
        "inte gick att läsa." in listing, \
        "it answered, with something unreadable: not that it did not answer"
    assert "SMHI har inte svarat" not in listing
    faults = [r.getMessage() for r in caplog.records if r.name == "bot.feeds.poller" and r.levelno == logging.WARNING]
    assert len(faults) == 4, faults  # once per change of state
    assert "HTTP 500" in faults[0] and "malformed JSON" in faults[1]
    assert "not a list of warnings" in faults[2] and "unexpected structure in warning [0]" in faults[3]

    server.serve([smhi.snow("YELLOW")], status=429, headers={"Retry-After": "3600"})
    await smhi.next_poll(6 * POLL)
    assert app.feeds.feeds[0].next_at == smhi.clock.now() + timedelta(hours=1), "Retry-After: an hour"

    server.serve([smhi.snow("ORANGE", published=90)])
    await smhi.next_poll(timedelta(hours=1))
    assert (await check(settings, smhi.clock.now()))[0], "answering again: healthy"
    assert len(proposals_in(await bot_events(world, "samordnande"))) == 1
    assert any("answering again" in r.getMessage() for r in caplog.records if r.name == "bot.feeds.poller")
    listing = await command(world, "rsib", "samordnande", "!varningar")
    assert "inaktuella" not in listing

    server.serve([smhi.snow("ORANGE", published=90)], status=429, headers={"Retry-After": "60"})
    await smhi.next_poll(POLL)
    listing = await command(world, "rsib", "samordnande", "!varningar")
    unreadable = ("Uppgifterna kan vara inaktuella: inget användbart svar från SMHI sedan fre 4 dec 16:10. SMHI har "
                  "svarat under tiden, men med något som inte gick att läsa.")
    assert unreadable in listing, "a 429 is an answer"

    await server.stop()  # SMHI does not answer at all
    await smhi.next_poll(timedelta(hours=1))
    listing = await command(world, "rsib", "samordnande", "!varningar")
    assert unreadable in listing and "har inte svarat" not in listing, \
        "it did answer (a 429) since the last good copy: silence after it never reads as 'has not answered since'"
    assert await rings(world, "tib") == 1, "a broken feed rings nobody"


async def test_a_county_that_drops_out_of_a_warning_still_in_force_elsewhere_is_marked_so(smhi: Smhi) -> None:
    world, server = smhi.world, smhi.server
    server.serve([smhi.snow("ORANGE", areas=(STOCKHOLM, UPPSALA))])
    await smhi.start()
    proposal = proposals_in(await bot_events(world, "samordnande"))[0]
    server.serve([smhi.snow("ORANGE", published=30, areas=(UPPSALA,))])  # Uppsala still; Stockholm no longer
    await smhi.next_poll()
    edits = edits_in(await bot_events(world, "samordnande"))
    assert len(edits) == 1 and edits[0]["content"]["m.relates_to"]["event_id"] == proposal["event_id"]
    assert edits[0]["content"]["m.new_content"]["body"].splitlines()[:2] == [
        "GÄLLER INTE LÄNGRE STOCKHOLMS LÄN: SMHI: ORANGE varning snöfall, lör 07:00 – sön 07:00",
        "Varningen gäller inte längre Stockholms län, men står kvar för andra delar av landet. Ingen aktivering "
        "föreslås."], "not cancelled nor expired: it stands for Uppsala; the county not named twice"
    assert "UPPHÄVD" not in edits[0]["content"]["m.new_content"]["body"]
    assert await rings(world, "tib") == 1, "the proposal rang once; its edit rings nobody"
    assert "Inga varningar från SMHI" in await command(world, "rsib", "samordnande", "!varningar")

    server.serve([smhi.snow("ORANGE", published=60, areas=(STOCKHOLM, UPPSALA))])  # back for Stockholm
    await smhi.next_poll()
    edits = edits_in(await bot_events(world, "samordnande"))
    assert len(edits) == 2 and edits[1]["content"]["m.new_content"]["body"].splitlines()[1] == (
        "Aktivera samordnande för snöoväder? Svara ✅ eller skriv !aktivera samordnande snöoväder"), \
        "the same proposal asks again, without a second one"
    assert len(proposals_in(await bot_events(world, "samordnande"))) == 1
    assert await rings(world, "tib") == 1, "edited: nobody rung again"
