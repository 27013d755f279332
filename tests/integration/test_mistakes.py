"""A careless user on the real homeserver: a time that is not one, a due time long past, a message far
too long. Each gets a sentence; nothing rings, nothing is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from support import World, command, highlights, room_events, send_text, settle, wait_for_reply

from bot.domain.clock import FakeClock
from bot.state.models import AuditEntry, Convocation, LogEntry, ReportRow, Summons


async def test_a_word_that_looks_like_a_time_but_is_not_one_rings_nobody(world: World) -> None:
    app = await world.start_bot()
    for bad in ("25:99", "24:00", "31 feb 10:00", "om -2h", "fredag 25:00"):
        answer = await command(world, "tib", "samordnande", f"!kalla samordnande {bad} extra avstämning")
        assert "Ingen kallelse skickades" in answer and "18:00" in answer, (bad, answer)
    await settle(app)
    async with app.db.session() as session:
        assert (await session.exec(select(Summons))).all() == [], "nobody convened"
    for who in ("tib", "sos"):
        assert await highlights(world.hs, world.people[who]) == [], f"{who}'s phone did not ring"

    answer = await command(world, "tib", "samordnande", "!kalla samordnande om budskapet till allmänheten")
    assert "Kallelse till Regionalt samordnande forum" in answer, "'om' before a word is a subject, not a time"


async def test_a_due_time_in_the_past_is_refused_and_nothing_is_logged(world: World) -> None:
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!möte start samordnande")
    answer = await command(world, "tib", "samordnande", "!åtgärd sos-vakthavande städa senast 1900-01-01")
    assert "mån 1 jan 1900 00:00 har redan varit" in answer
    answer = await command(world, "tib", "samordnande", "!tjänstgör sos-vakthavande till 2001-01-01 10:00")
    assert "har redan varit" in answer
    async with app.db.session() as session:
        assert (await session.exec(select(LogEntry))).all() == []


async def test_a_far_too_long_command_gets_the_limit_and_is_recorded_not_run(world: World) -> None:
    app = await world.start_bot()
    text = "!rapport samordnande konsekvenser: " + "halka " * 9_000  # 54 KB, under the event size limit
    answer = await command(world, "sos", "samordnande", text)
    assert "för långt" in answer and "16000" in answer.replace(" ", "").replace("\u00a0", "")
    assert "!rapport utfördes inte" in answer
    async with app.db.session() as session:
        assert (await session.exec(select(ReportRow))).all() == [], "no report stored"
        audit = (await session.exec(select(AuditEntry))).all()
    assert [(a.user_id, a.action, a.allowed) for a in audit] == [(world.people["sos"].user_id, "command:rapport",
                                                                   False)]


async def test_a_number_in_the_subject_is_no_time_and_a_past_date_is_refused(world: World) -> None:
    """Nobody is convened for a time the sender did not write, nor for one that has passed."""
    app = await world.start_bot()
    answer = await command(world, "tib", "samordnande", "!kalla samordnande 3 personer saknas")
    assert "Ämne: 3 personer saknas" in answer and "03:00" not in answer
    await settle(app)
    async with app.db.session() as session:
        convocation = (await session.exec(select(Convocation))).one()
    assert convocation.subject == "3 personer saknas"
    assert convocation.starts_at == convocation.created_at, "convened for now, not for 03:00"

    yesterday = datetime.now(ZoneInfo("Europe/Stockholm")) - timedelta(days=1)
    months = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
    answer = await command(world, "tib", "samordnande",
                           f"!kalla samordnande {yesterday.day} {months[yesterday.month - 1]} 10:00 genomgång")
    assert "har redan varit" in answer and "Ingen" not in answer.split("har redan varit")[0]
    async with app.db.session() as session:
        assert len((await session.exec(select(Convocation))).all()) == 1, "the past date convened nobody"


async def test_a_sender_flooding_commands_gets_one_warning_and_a_minute_of_silence(world: World) -> None:
    clock = FakeClock(datetime.now(UTC))
    app = await world.start_bot(clock=clock)
    client, room = world.clients["sos"], world.rooms["samordnande"]
    sent = [await send_text(client, room, "!vem tib") for _ in range(22)]
    warning = await wait_for_reply(client, room, sent[20])
    assert "fler än 20 kommandon på en minut" in warning["content"]["body"]
    for event_id in sent[:20]:
        assert "Tjänsteman i beredskap" in (await wait_for_reply(client, room, event_id))["content"]["body"]
    await settle(app)
    replied_to = {e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                  for e in await room_events(client, room, 200) if e["sender"] == world.bot.user_id}
    assert sent[21] not in replied_to, "ignored after the warning"
    assert "Tjänsteman i beredskap" in await command(world, "tib", "samordnande", "!vem tib"), "others go on"
    async with app.db.session() as session:
        flood = (await session.exec(select(AuditEntry).where(col(AuditEntry.allowed).is_(False)))).all()
    assert [json.loads(a.detail)["reason"] for a in flood] == ["flood: warn", "flood: ignore"]
    clock.advance(timedelta(minutes=1, seconds=1))
    assert "Tjänsteman i beredskap" in await command(world, "sos", "samordnande", "!vem tib"), "a minute later"
