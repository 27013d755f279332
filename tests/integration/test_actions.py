"""Each actor's own commitments: `!klar` by the responsible organisation, `!åtgärder` by organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from support import World, command, direct_bodies, settle

from bot.domain.clock import FakeClock
from bot.state.models import AuditEntry, LogEntry

TZ = ZoneInfo("Europe/Stockholm")


async def test_the_owner_marks_an_action_done_once_others_may_not_and_the_list_shows_overdue(world: World) -> None:
    start = (datetime.now(TZ) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    clock = FakeClock(start)
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    noted = await command(world, "tib", "samordnande", "!åtgärd sos-vakthavande samla in lägesbilder senast 14:00")
    number = int(noted.split("#")[1].split(".")[0])
    await command(world, "tib", "samordnande", "!åtgärd nacka-tib röj infarten till sjukhuset senast 12:00")

    clock.set(start + timedelta(hours=3))  # 13:00: Nacka's action is overdue, SOS Alarm's not yet
    listed = await command(world, "nacka", "samordnande", "!åtgärder")
    assert "Åtgärder i Regionalt samordnande forum" in listed
    nacka, sos = listed.index("Nacka kommun"), listed.index("SOS Alarm")  # by organisation, in order
    assert nacka < sos and "FÖRSENAD" in listed[nacka:sos] and listed.count("FÖRSENAD") == 1

    refused = await command(world, "nacka", "samordnande", f"!klar {number}")
    assert "Du får inte göra det: bara den ansvariga aktören (Vakthavande, SOS Alarm)" in refused
    done = await command(world, "sos", "samordnande", f"!klar #{number} 12 av 14 kommuner har rapporterat")
    assert f"Klar: åtgärd #{number} samla in lägesbilder (Vakthavande, SOS Alarm)." in done
    assert "12 av 14 kommuner har rapporterat" in done
    clock.set(start + timedelta(hours=4))
    again = await command(world, "sos", "samordnande", f"!klar {number}")
    assert "redan klarmarkerad" in again and "inget ändrades" in again
    async with app.db.session() as session:
        entry = await session.get(LogEntry, number)
        assert entry is not None and entry.done_at == start + timedelta(hours=3), "the second !klar changed nothing"
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "action_done"))).all()
    assert [a.allowed for a in audit] == [False, True], "the refusal and the one done, nothing more"
    assert f"#{number} samla in lägesbilder — klar" in await command(world, "tib", "samordnande", "!åtgärder")

    assert "ingen åtgärd #99999" in await command(world, "sos", "samordnande", "!klar 99999")
    bad = await command(world, "sos", "samordnande", "!klar snart")
    assert "Ange åtgärdens nummer" in bad and "!klar <nummer> [kommentar]" in bad


async def test_an_overdue_action_is_chased_once_unless_its_owner_reported_a_deviation_and_the_roll_call_lists_it(
        world: World) -> None:
    start = (datetime.now(TZ) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    clock = FakeClock(start)
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    road = _number(await command(world, "tib", "samordnande", "!åtgärd nacka-tib röj infarten senast 12:00"))
    calls = _number(await command(world, "tib", "samordnande", "!åtgärd sos-vakthavande ring kommunerna senast 12:00"))

    refused = await command(world, "nacka", "samordnande", f"!avvikelse {calls} vi hinner inte")
    assert "Du får inte göra det: bara den ansvariga aktören (Vakthavande, SOS Alarm)" in refused
    bare = await command(world, "sos", "samordnande", f"!avvikelse {calls}")
    assert "Skriv vad som avviker" in bare and "!avvikelse <nummer> <orsak>" in bare
    noted = await command(world, "sos", "samordnande", f"!avvikelse {calls} växeln är nere, vi mejlar i stället")
    assert "Avvikelse för åtgärd" in noted and "står kvar som öppen" in noted

    clock.set(start + timedelta(hours=1, minutes=5))  # an hour before: the owner is reminded
    await app.timers.fire_due()
    await settle(app)
    assert len(await _with(world, app, "nacka", "Påminnelse: åtgärd")) == 1
    assert await _with(world, app, "sos", "Påminnelse: åtgärd") == [], "the owner has already said it deviates"

    clock.set(start + timedelta(hours=2, minutes=1))  # 12:01: overdue
    await app.timers.fire_due()
    assert await app.timers.fire_due() == 0, "chased once"
    await settle(app)
    chased = await _with(world, app, "nacka", f"FÖRSENAD ÅTGÄRD #{road}")
    assert len(chased) == 1 and f"!klar {road}" in chased[0] and f"!avvikelse {road}" in chased[0]
    assert await _with(world, app, "sos", "FÖRSENAD ÅTGÄRD") == []
    async with app.db.session() as session:
        assert (await session.get(LogEntry, road)).chased_at == start + timedelta(hours=2, minutes=1)  # type: ignore[union-attr]
        assert (await session.get(LogEntry, calls)).chased_at is None  # type: ignore[union-attr]

    await command(world, "tib", "samordnande", "!möte start")
    roll_call = await command(world, "tib", "samordnande", "!upprop")
    follow_up = roll_call[roll_call.index("Försenade åtgärder att följa upp"):]
    assert f"#{road} röj infarten (TiB, Nacka kommun)" in follow_up
    assert f"#{calls} ring kommunerna" in follow_up and "avvikelse: växeln är nere" in follow_up
    assert "avvikelse: växeln är nere" in await command(world, "tib", "samordnande", "!åtgärder")
    await command(world, "nacka", "samordnande", f"!klar {road}")
    roll_call = await command(world, "tib", "samordnande", "!upprop")
    assert f"#{road} röj" not in roll_call, "done: no longer followed up"


def _number(answer: str) -> int:
    return int(answer.split("#")[1].split(".")[0])


async def _with(world: World, app: object, who: str, needle: str) -> list[str]:
    return [b for b in await direct_bodies(world, app, who) if needle in b]  # type: ignore[arg-type]
