"""Each actor's own commitments: `!klar` by the responsible organisation, `!åtgärder` by organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from support import World, command

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
    assert "Bara den ansvariga aktören (Vakthavande, SOS Alarm)" in refused
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
