"""A rhythm while activated: `!rytm samordnande 4h` plans a conference every four hours until deactivation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from support import World, bot_said, command, direct_bodies, settle

from bot.app import App
from bot.domain.clock import FakeClock
from bot.state.models import Convocation, Summons


def tomorrow_at(hour: int) -> datetime:
    """Tomorrow at `hour` local time, in UTC: a fixed point for a test's clock, clear of the weekly meeting."""
    return (datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(days=1)).replace(
        hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)


async def _reminders(world: World, app: App, who: str) -> int:
    return sum("PÅMINNELSE" in b for b in await direct_bodies(world, app, who))


async def test_a_rhythm_plans_each_next_conference_rings_before_it_and_ends_with_the_activation(
        world: World) -> None:
    ten = tomorrow_at(10)
    clock = FakeClock(ten)
    app = await world.start_bot(clock=clock)
    refused = await command(world, "tib", "samordnande", "!rytm samordnande 4h")
    assert "inte aktiverat" in refused, "no rhythm in ordinary mode"
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "tib", "samordnande", "!kvittera")
    await command(world, "sos", "samordnande", "!kvittera")  # so that nothing escalates: only the rhythm rings
    assert "får sammankalla eller ordföranden" in await command(world, "nacka", "samordnande", "!rytm samordnande 4h")
    bad = await command(world, "tib", "samordnande", "!rytm samordnande 25h")
    assert "mellan 30 minuter och 24 timmar" in bad and "Användning: !rytm" in bad
    assert await bot_said(world, "samordnande", "(rytm: var") == []

    assert "en samverkanskonferens var 4 h" in await command(world, "tib", "samordnande", "!rytm samordnande 4h")
    await settle(app)  # the notice goes out after the answer
    notices = await bot_said(world, "samordnande", "(rytm: var")
    assert len(notices) == 1 and " 14:00 (rytm: var 4 h)" in notices[0]["content"]["body"]
    assert "m.mentions" not in notices[0]["content"] or not notices[0]["content"]["m.mentions"].get("user_ids")
    await settle(app)
    before = await _reminders(world, app, "sos")
    async with app.db.session() as session:  # planned quietly: the time to acknowledge counts from the ring
        [planned] = (await session.exec(select(Convocation).where(Convocation.starts_at == ten + timedelta(hours=4)))
                     ).all()
        summoned = (await session.exec(select(Summons).where(Summons.convocation_id == planned.id))).all()
    assert summoned and {s.convened_at for s in summoned} == {ten + timedelta(hours=3, minutes=45)}

    clock.set(ten + timedelta(hours=3, minutes=46))  # 15 minutes before 14:00: the dial-in rings
    await app.timers.fire_due()
    await settle(app)
    assert await _reminders(world, app, "sos") == before + 1
    clock.set(ten + timedelta(hours=4, minutes=1))  # 14:00: it opens, and the one at 18:00 is planned
    await app.timers.fire_due()
    await app.timers.fire_due()
    await settle(app)
    assert len(await bot_said(world, "samordnande", "Samverkanskonferens i aktiverat läge har börjat")) == 1
    notices = await bot_said(world, "samordnande", "(rytm: var")
    assert len(notices) == 2 and " 18:00 (rytm: var 4 h)" in notices[-1]["content"]["body"]
    again = await command(world, "tib", "samordnande", "!rytm samordnande 4h")
    assert "redan kallad" in again
    await settle(app)
    assert len(await bot_said(world, "samordnande", "(rytm: var")) == 2, "no second chain"

    await command(world, "tib", "samordnande", "!möte slut")
    await command(world, "tib", "samordnande", "!avaktivera samordnande")
    reminded = await _reminders(world, app, "sos")
    clock.set(ten + timedelta(hours=7, minutes=46))  # 17:46: the activation has ended, nothing rings
    await app.timers.fire_due()
    clock.set(ten + timedelta(hours=8, minutes=1))
    await app.timers.fire_due()
    await settle(app)
    assert await _reminders(world, app, "sos") == reminded
    assert len(await bot_said(world, "samordnande", "Samverkanskonferens i aktiverat läge har börjat")) == 1


async def test_before_each_conference_of_the_rhythm_who_has_not_reported_since_the_last_is_asked_once(
        world: World) -> None:
    ten = tomorrow_at(10)
    clock = FakeClock(ten)
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "tib", "samordnande", "!rytm samordnande 4h")
    clock.set(ten + timedelta(minutes=20))
    assert "mottagen" in await command(world, "sos", "samordnande", "!rapport samordnande konsekvenser: högt tryck")

    clock.set(ten + timedelta(hours=3, minutes=46))  # 15 minutes before 14:00
    await app.timers.fire_due()
    await app.timers.fire_due()
    await settle(app)

    async def asked(who: str) -> int:
        return sum("Lägesbild inför samverkanskonferensen 14:00" in b for b in await direct_bodies(world, app, who))

    assert await asked("nacka") == 1 and await asked("tib") == 1 and await asked("rsib") == 1
    assert await asked("sos") == 0, "SOS Alarm has reported since the activation"
    assert await asked("outsider") == 0


async def test_kvittera_after_the_rhythm_is_set_acknowledges_the_conference_on_now_and_the_planned_one(
        world: World) -> None:
    """The next conference is planned as soon as the rhythm is set: a !kvittera then still answers the
    activation's convocation (no reminder follows) and the planned conference ahead."""
    one = tomorrow_at(13)
    clock = FakeClock(one)
    app = await world.start_bot(clock=clock)
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "tib", "samordnande", "!rytm samordnande 4h")
    answer = await command(world, "sos", "samordnande", "!kvittera")
    assert "Kvitterat" in answer
    clock.advance(timedelta(minutes=6))  # the activation's ack_within has passed
    await app.timers.fire_due()
    await settle(app)
    assert await _reminders(world, app, "sos") == 0, "SOS Alarm acknowledged: no reminder"
    assert await _reminders(world, app, "nacka") == 1, "Nacka kommun did not"
    async with app.db.session() as session:
        acked = (await session.exec(select(Summons).where(Summons.function_id == "sos-vakthavande"))).all()
    assert len(acked) == 2 and all(s.ack_at is not None for s in acked), "the activation's and the planned one"
