"""Directions taken home (återföra, seed 000): each organisation of the composition confirms, once, with
`!återfört` or a ✅ on the direction; the chair sees who has and who has not."""

from __future__ import annotations

from sqlmodel import col, select
from support import World, bot_said, command, react, settle, wait_for

from bot.state.models import DirectionReturn


async def _returned(app: object) -> list[tuple[int, str]]:
    async with app.db.session() as session:  # type: ignore[attr-defined]
        rows = (await session.exec(select(DirectionReturn).order_by(col(DirectionReturn.id)))).all()
    return [(r.entry_id, r.organisation_id) for r in rows]


async def test_each_organisation_confirms_a_direction_taken_home_once_and_the_chair_sees_who_has(
        world: World) -> None:
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await command(world, "tib", "inriktande", "!aktivera inriktande snöoväder")
    logged = await command(world, "tib", "samordnande", "!inriktning Prioritera framkomligheten till sjukhusen")
    number = int(logged.split("#")[1].split(".")[0])
    assert f"!återfört {number}" in logged
    asked = (await bot_said(world, "samordnande", f"!återfört {number}"))[0]
    assert asked["content"]["msgtype"] == "m.notice", "asking wakes nobody"

    await react(world.clients["sos"], world.rooms["samordnande"], asked["event_id"])
    await wait_for(lambda: bot_said(world, "samordnande", f"SOS Alarm har återfört inriktning #{number}."))
    again = await command(world, "sos", "samordnande", f"!återfört {number}")
    assert "har redan återfört" in again and "inget ändrades" in again
    assert "Nacka kommun har återfört" in await command(world, "nacka", "samordnande", f"!återfört #{number}")

    listing = await command(world, "tib", "samordnande", "!återfört")
    assert "Återfört: SOS Alarm, Nacka kommun" in listing and "Inte än: Länsstyrelsen Stockholm" in listing
    last = await command(world, "rsib", "samordnande", f"!återfört {number}")
    assert "Alla organisationer i sammansättningen har nu återfört" in last

    decision = await command(world, "tib", "samordnande", "!beslut Skolorna stänger")
    not_a_direction = int(decision.split("#")[1].split(".")[0])
    assert "ingen inriktning" in await command(world, "sos", "samordnande", f"!återfört {not_a_direction}")
    bad = await command(world, "sos", "samordnande", "!återfört fyra")
    assert "Ange inriktningens nummer" in bad and "!återfört [nummer]" in bad

    # The inriktande forum's composition is Länsstyrelsen and Nacka kommun: SOS Alarm is not asked there.
    theirs = await command(world, "tib", "inriktande", "!inriktning Samordna budskapen om resor")
    other = int(theirs.split("#")[1].split(".")[0])
    refused = await command(world, "sos", "inriktande", f"!återfört {other}")
    assert "Du får inte göra det: bara organisationer i sammansättningen" in refused
    await settle(app)
    assert await _returned(app) == [(number, "sos"), (number, "nacka"), (number, "lst")]
