"""What people see on phones running Element's crypto stack (matrix-js-sdk + Rust crypto), on the real
homeserver, in encrypted rooms, in Element's default "exclude insecure devices" mode.

The forum room is a room as current Synapse creates it (room version 12, an id without a server
part), put in the configuration by its id.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from elementphone import ElementPhone, from_bot, missing, text
from sqlmodel import col, select
from support import World, direct_room, settle, wait_for

from bot.app import App
from bot.config import Settings
from bot.state.models import AuditEntry, Convocation, Summons

ENCRYPTED = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}

if (why := missing()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"the Element test phone must run on CI: {why}")
    pytest.skip(why, allow_module_level=True)


@pytest.fixture
async def phones(world: World) -> AsyncIterator[Callable[..., Any]]:
    started: list[ElementPhone] = []

    async def phone(who: str, **options: Any) -> ElementPhone:
        started.append(ElementPhone(world.hs, world.people[who]))
        return await started[-1].start(**options)

    yield phone
    for p in started:
        await p.stop()


async def encrypted_forum(world: World) -> tuple[str, Settings]:
    """A new encrypted room, everyone invited, as the samordnande forum's room (by its room id)."""
    invite = [u.user_id for n, u in world.people.items() if n != "admin"] + [world.bot.user_id]
    answer = await world.clients["admin"].room_create(name=f"krypterat{uuid.uuid4().hex[:6]}", invite=invite,
                                                      initial_state=[ENCRYPTED],
                                                      power_level_override={"users": {world.bot.user_id: 50}})
    room_id: str = answer.room_id  # type: ignore[union-attr]
    assert room_id.startswith("!") and ":" not in room_id, f"expected a room version 12 id, got {room_id}"

    def encrypted(data: dict[str, Any]) -> None:
        data["matrix"]["encryption"] = True
        data["forum"][0]["room"] = room_id

    return room_id, world.settings(encrypted)


async def test_an_element_phone_reads_the_bots_answer_and_sees_its_device_signed(world: World, phones: Any) -> None:
    """The bot's device is cross-signed by its owner; its answer decrypts on a phone that excludes insecure devices."""
    room_id, settings = await encrypted_forum(world)
    tib = await phones("tib")
    await tib.join(room_id)
    app = await world.start_bot(settings)

    status = await tib.device_status(world.bot.user_id, app.matrix.device_id)
    assert status is not None and status["signed_by_owner"], status

    asked = await tib.send(room_id, "!status samordnande")
    answer = await tib.wait(lambda e: from_bot(world.bot.user_id, room_id)(e)
                            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == asked)
    assert answer["encrypted"] and answer["decryption_failure"] is None, answer
    assert "Regionalt samordnande forum" in text(answer)
    assert answer["content"]["msgtype"] == "m.notice"


async def test_activation_ping_and_direct_message_decrypt_and_ring_and_a_reaction_acknowledges(
        world: World, phones: Any) -> None:
    """The ping highlights on the phone after decryption; the DM decrypts; ✅ from the phone acknowledges."""
    room_id, settings = await encrypted_forum(world)
    tib, sos = await phones("tib"), await phones("sos")
    for p in (tib, sos):
        await p.join(room_id)
    app = await world.start_bot(settings)

    await tib.send(room_id, "!aktivera samordnande snöoväder")
    ping = await sos.wait(lambda e: from_bot(world.bot.user_id, room_id)(e) and "AKTIVERAT" in text(e))
    assert ping["encrypted"] and ping["content"]["msgtype"] == "m.text"
    assert world.people["sos"].user_id in ping["content"]["m.mentions"]["user_ids"]
    assert ping["highlight"], "the phone evaluates the mention after decrypting and rings"

    dm = await direct_room(app, world.people["sos"])
    convocation = await sos.wait(lambda e: from_bot(world.bot.user_id, dm)(e) and "snöoväder" in text(e))
    assert convocation["encrypted"] and convocation["decryption_failure"] is None
    assert convocation["notify"], "a message in a one-to-one room notifies"

    await sos.react(dm, convocation["event_id"])

    await wait_for(lambda: acknowledged(app), 60)  # a loaded machine: the phone's key share takes a while
    assert await acknowledged(app) == {"sos-vakthavande": world.people["sos"].user_id}, "only the one who reacted"


async def acknowledged(app: App) -> dict[str, str | None]:
    """Function -> who acknowledged, for every acknowledged summons."""
    async with app.db.session() as session:
        rows = (await session.exec(select(Summons).where(col(Summons.ack_at).is_not(None)))).all()
    return {row.function_id: row.ack_by for row in rows}


async def test_a_device_its_owner_has_not_signed_gets_no_room_key(world: World, phones: Any) -> None:
    """The bot shares room keys only with cross-signed devices; the signed phone reads, the unsigned cannot;
    a phone in the legacy "all devices" mode still reads the bot."""
    room_id, settings = await encrypted_forum(world)
    tib = await phones("tib")
    unsigned = await phones("nacka", cross_sign=False)
    legacy = await phones("rsib", isolation="all")
    for p in (tib, unsigned, legacy):
        await p.join(room_id)
    await world.start_bot(settings)

    asked = await tib.send(room_id, "!vem tib")
    answer = await tib.wait(lambda e: from_bot(world.bot.user_id, room_id)(e)
                            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == asked)
    assert answer["decryption_failure"] is None

    same = await unsigned.wait(lambda e: e["event_id"] == answer["event_id"])
    assert same["decryption_failure"] is not None and text(same) == "", "no key for an unsigned device"
    seen_by_legacy = await legacy.wait(lambda e: e["event_id"] == answer["event_id"])
    assert seen_by_legacy["decryption_failure"] is None and text(seen_by_legacy) == text(answer)


async def test_commands_that_change_state_come_only_from_a_cross_signed_device(world: World, phones: Any) -> None:
    """A stolen password alone (a new, unverified session) rings nobody; the same person's verified session
    activates; reading stays open to both. (Element itself will not send from an unverified session of an
    account with cross-signing; a thief uses a client that does, here Element's stack in its legacy mode.)"""
    room_id, settings = await encrypted_forum(world)
    signed = await phones("tib")
    stolen = await phones("tib", cross_sign=False, isolation="all")
    for p in (signed, stolen):
        await p.join(room_id)
    app = await world.start_bot(settings)

    def reply_to(event_id: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: from_bot(world.bot.user_id, room_id)(e) and \
            e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id

    asked = await stolen.send(room_id, "!aktivera samordnande storm")
    refusal = await signed.wait(reply_to(asked))  # the owner reads it on a verified session
    assert "verifierad session" in text(refusal) and "Verifiera den här sessionen" in text(refusal)
    read = await stolen.send(room_id, "!status samordnande")
    status = await signed.wait(reply_to(read))
    assert "Regionalt samordnande forum" in text(status), "reading stays open"
    await settle(app)
    async with app.db.session() as session:
        assert (await session.exec(select(Convocation))).all() == [], "nobody convened, nobody rung"
        refused = (await session.exec(select(AuditEntry).where(col(AuditEntry.allowed).is_(False)))).all()
    assert [(a.action, json.loads(a.detail)["reason"]) for a in refused] == [
        ("command:aktivera", "error.unverified_session")]

    await signed.send(room_id, "!aktivera samordnande storm")

    async def activated() -> bool:
        async with app.db.session() as session:
            return len((await session.exec(select(Convocation))).all()) == 1

    await wait_for(activated, 60)
