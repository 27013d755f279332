"""Forums formed for the event (seed 000: verkställande forums "bildas vid behov"): `!bilda` in an
activated forum's room creates the new forum's room, invites and convenes its composition; it survives a
restart, and is dissolved with `!upplös` or with the forum that formed it."""

from __future__ import annotations

from typing import Any

import tomli_w
from nio import JoinError, JoinResponse, RoomResolveAliasResponse
from sqlmodel import select
from support import (
    World,
    base_config,
    command,
    direct_bodies,
    record_files,
    room_events,
    room_state,
    send_text,
    settle,
    wait_for,
    wait_for_reply,
)

from bot.app import App
from bot.config import parse_settings
from bot.state.models import AuditEntry, FormedForum


async def _formed(app: App) -> list[FormedForum]:
    async with app.db.session() as session:
        return list((await session.exec(select(FormedForum))).all())


async def _audited(app: App, action: str) -> list[AuditEntry]:
    async with app.db.session() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def _room(world: World, alias: str) -> str:
    async def resolve() -> str | None:
        answer = await world.clients["tib"].room_resolve_alias(alias)
        return str(answer.room_id) if isinstance(answer, RoomResolveAliasResponse) else None

    found: str = await wait_for(resolve)
    return found


async def _bot_bodies(world: World, who: str, room_id: str) -> list[str]:
    events: list[dict[str, Any]] = await room_events(world.clients[who], room_id)
    return [e["content"].get("body", "") for e in events
            if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]


async def test_a_forum_formed_for_the_event_gets_a_room_is_convened_survives_a_restart_and_ends_with_its_parent(
        world: World) -> None:
    app = await world.start_bot()
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    await settle(app)
    rsib_before = await direct_bodies(world, app, "rsib")

    done = await command(world, "tib", "samordnande", "!bilda Vägar sos-vakthavande nacka-tib")
    assert "Vägar (verkställande) är bildat för snöoväder och sammankallas nu" in done
    assert "!upplös vagar" in done
    [row] = await _formed(app)
    assert (row.forum_id, row.parent_id, row.event, row.chair) == ("vagar", "samordnande", "snöoväder", "lst-tib")
    assert row.room in done
    room_id = await _room(world, row.room)

    # Invited: the holders of its functions; a person outside it cannot join the room.
    for who in ("sos", "nacka"):
        assert isinstance(await world.clients[who].join(room_id), JoinResponse)
    assert isinstance(await world.clients["outsider"].join(room_id), JoinError)
    levels = await room_state(world.clients["sos"], room_id, "m.room.power_levels")
    assert levels["users"].get(world.people["tib"].user_id) == 50, "the chair moderates the room"

    # Convened in its own room, and rung in their direct rooms; a function outside it is not.
    await settle(app)

    async def convened() -> list[str]:
        return [b for b in await _bot_bodies(world, "sos", room_id) if "Vägar" in b and "snöoväder" in b]

    assert len(await wait_for(convened)) == 1
    for who in ("sos", "nacka"):
        assert sum("Vägar" in b for b in await direct_bodies(world, app, who)) == 1
    assert await direct_bodies(world, app, "rsib") == rsib_before
    topic = await room_state(world.clients["sos"], room_id, "m.room.topic")
    assert topic.get("topic", "").startswith("AKTIVERAT: snöoväder")

    # It works like any forum: an acknowledgement, its status, and it is not formed twice.
    asked = await send_text(world.clients["sos"], room_id, "!kvittera")
    acknowledged = await wait_for_reply(world.clients["sos"], room_id, asked)
    assert "Kvitterat: Vakthavande, SOS Alarm i Vägar" in acknowledged["content"]["body"]
    assert "AKTIVERAT" in await command(world, "tib", "samordnande", "!status vägar")
    # Called in later: convened, and invited to the room the ping goes to.
    assert isinstance(await world.clients["rsib"].join(room_id), JoinError)
    await command(world, "tib", "samordnande", "!kalla-in lst-rsib vägar")
    await settle(app)
    assert isinstance(await world.clients["rsib"].join(room_id), JoinResponse)
    assert sum("Vägar" in b for b in await direct_bodies(world, app, "rsib")) == 1
    taken = await command(world, "tib", "samordnande", "!bilda vägar lst-rsib")
    assert "används redan" in taken and "Användning: !bilda" in taken

    # A restart keeps it; the room is not created again.
    await world.stop_bots()
    app = await world.start_bot()
    assert "AKTIVERAT" in await command(world, "tib", "samordnande", "!status vägar")
    assert await _room(world, row.room) == room_id

    refused = await command(world, "sos", "samordnande", "!upplös vägar")
    assert "får sammankalla eller ordföranden kan upplösa Vägar" in refused
    assert (await _formed(app))[0].dissolved_at is None

    # The parent back in ordinary mode dissolves it: said in its room, once; it is no longer a forum.
    ended = await command(world, "tib", "samordnande", "!avaktivera samordnande")
    assert "återgick till ordinarie läge" in ended and "Upplösta med det: Vägar." in ended
    await settle(app)

    async def dissolved() -> list[str]:
        return [b for b in await _bot_bodies(world, "sos", room_id) if "Vägar är upplöst" in b]

    assert len(await wait_for(dissolved)) == 1
    [row] = await _formed(app)
    assert row.dissolved_at is not None and row.dissolved_by == world.people["tib"].user_id
    assert [a.allowed for a in await _audited(app, "dissolve_forum")] == [False, True], "the refusal is kept too"
    topic = await room_state(world.clients["sos"], room_id, "m.room.topic")
    assert topic.get("topic", "").startswith("UPPLÖST")
    gone = await command(world, "tib", "samordnande", "!status vägar")
    assert "Okänt forum" in gone
    assert "aktiveringar: 2" in await command(world, "tib", "samordnande", "!export snöoväder")

    data, html = await record_files(world, "samordnande", "dokumentation-snöoväder")
    assert sorted(a["forum"] for a in data["activations"]) == ["samordnande", "vagar"]
    assert "Vägar" in html, "a dissolved forum is named in the record"


async def test_forming_and_dissolving_refuse_what_does_not_fit_and_change_nothing(world: World) -> None:
    app = await world.start_bot()
    where = await command(world, "tib", "logg", "!bilda vägar sos-vakthavande")
    assert "i rummet för det aktiverade forum" in where and "Användning: !bilda" in where
    ordinary = await command(world, "tib", "samordnande", "!bilda vägar sos-vakthavande")
    assert "är i ordinarie läge" in ordinary and "!aktivera samordnande" in ordinary

    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    not_convener = await command(world, "sos", "samordnande", "!bilda vägar nacka-tib")
    assert "får sammankalla eller ordföranden kan bilda" in not_convener
    unknown = await command(world, "tib", "samordnande", "!bilda vägar trafikverket-tib")
    assert "trafikverket-tib" in unknown and "Användning: !bilda" in unknown
    level = await command(world, "tib", "samordnande", "!bilda vägar sos-vakthavande nivå lokal")
    assert "Okänd nivå: lokal" in level
    no_functions = await command(world, "tib", "samordnande", "!bilda vägar")
    assert "Användning: !bilda" in no_functions
    clash = await command(world, "tib", "samordnande", "!bilda inriktande sos-vakthavande")
    assert "används redan" in clash
    configured = await command(world, "tib", "samordnande", "!upplös inriktande")
    assert "finns i konfigurationen" in configured and "!avaktivera inriktande" in configured
    assert await _formed(app) == []
    assert [a.allowed for a in await _audited(app, "form_forum")] == [False], "only the refusal to sos is recorded"

    # An organisation stands for its functions; the level may be given; !upplös dissolves it alone.
    done = await command(world, "tib", "samordnande", "!bilda Sjukvård SOS Alarm, nacka-tib nivå samordnande")
    assert "Sjukvård (samordnande)" in done and "Vakthavande, SOS Alarm" in done
    [row] = await _formed(app)
    room_id = await _room(world, row.room)
    assert "Sjukvård är upplöst" in await command(world, "tib", "samordnande", "!upplös sjukvård")
    again = await command(world, "tib", "samordnande", "!upplös sjukvård")
    assert "Okänt forum" in again
    await settle(app)
    assert isinstance(await world.clients["sos"].join(room_id), JoinResponse)
    assert sum("Sjukvård är upplöst" in b for b in await _bot_bodies(world, "sos", room_id)) == 1
    status = await command(world, "tib", "samordnande", "!status samordnande")
    assert "AKTIVERAT" in status, "the forum that formed it is still activated"
    # Formed again after it was dissolved: a new forum, with its own id, beside the old one in the record.
    assert "bildat" in await command(world, "tib", "samordnande", "!bilda Sjukvård sos-vakthavande")
    assert [r.forum_id for r in await _formed(app)] == ["sjukvard", "sjukvard-2"]


async def test_a_reload_keeps_a_formed_forum_and_a_file_that_takes_its_name_is_refused(world: World) -> None:
    path = world.tmp / "config.toml"
    path.write_text(tomli_w.dumps(base_config(world)), encoding="utf-8")
    app = App(parse_settings(base_config(world)), env={"SAMVERKAN_PASSWORD": world.bot.password}, config_path=path)
    await app.start()
    await app.wait_ready()
    world.apps.append(app)
    await command(world, "tib", "samordnande", "!aktivera samordnande snöoväder")
    assert "bildat" in await command(world, "tib", "samordnande", "!bilda Vägar sos-vakthavande")

    assert "Konfigurationen är omladdad" in await command(world, "admin", "samordnande", "!ladda-om")
    assert "AKTIVERAT" in await command(world, "tib", "samordnande", "!status vägar")

    clash = base_config(world)
    clash["forum"][1]["aliases"] = ["vägar"]
    path.write_text(tomli_w.dumps(clash), encoding="utf-8")
    refused = await command(world, "admin", "samordnande", "!ladda-om")
    assert "laddades inte om" in refused and "forum 'vagar' (formed for an event)" in refused
    assert "AKTIVERAT" in await command(world, "tib", "samordnande", "!status vägar")
    assert app.directory.forums.get("vägar") is not None and app.directory.forum("vagar").name == "Vägar"
