"""A stolen password rings nobody, on the real homeserver: the victim on a phone running Element's crypto stack
(matrix-js-sdk with Rust crypto, every session cross-signed), the thief with the same password on a client of
their own (a login nobody verified). What happened is counted at the homeserver and in the bot's database:
who was rung, whether the forum was activated, the audit rows.

Each attack has its positive control: the verified session activates, a ✅ from someone whose sessions are
all verified acknowledges and confirms, an administrator's approval restores a person after an identity reset.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from elementphone import ElementPhone, from_bot, missing, text
from nio import (
    AsyncClient,
    AsyncClientConfig,
    MatrixRoom,
    MegolmEvent,
    RoomMessageNotice,
    RoomMessageText,
    RoomSendResponse,
)
from sqlmodel import col, select
from support import World, direct_room, room_events, settle, wait_for

from bot.app import App
from bot.config import Settings
from bot.domain import identity
from bot.domain.clock import FakeClock
from bot.matrix import crosssign
from bot.state import forums as forum_store
from bot.state.models import AuditEntry, Convocation, IdentityPin, OutboxMessage, Summons
from bot.state.repo import transaction_id
from dev.devserver import RegisteredUser

ENCRYPTED = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
BYSTANDERS = ("rsib", "sos", "nacka")

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


@pytest.fixture
async def thieves(world: World) -> AsyncIterator[Callable[..., Any]]:
    started: list[Thief] = []

    async def thief(who: str, *, keys: bool) -> Thief:
        started.append(Thief(world, world.people[who], world.tmp / f"thief{len(started)}"))
        return await started[-1].start(keys=keys)

    yield thief
    for t in started:
        await t.stop()


class Thief:
    """A second login with someone's password that nobody verified. With `keys` it is an encrypting nio
    session (its device keys uploaded, so the bot can see it); without, a bare client that never uploads any
    and sends everything in the clear, as a script would."""

    def __init__(self, world: World, user: RegisteredUser, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.hs, self.user = world.hs, user
        self.client = AsyncClient(world.hs.url, user.user_id, store_path=str(store),
                                  config=AsyncClientConfig(encryption_enabled=True, max_timeouts=2,
                                                           request_timeout=20))
        self.token = ""
        self.syncing: Any = None
        self.seen: list[tuple[str, Any]] = []  # (room id, event) as the thief's client saw it

    async def _saw(self, room: MatrixRoom, event: Any) -> None:
        self.seen.append((room.room_id, event))

    def from_bot(self, bot: str, room_id: str) -> list[Any]:
        """The bot's messages in a room as the thief's client has them: decrypted, or still a MegolmEvent."""
        return [e for r, e in self.seen if r == room_id and e.sender == bot]

    async def start(self, *, keys: bool) -> Thief:
        if keys:
            await self.client.login(self.user.password, device_name="tjuvens klient")
            self.token = self.client.access_token
            await self.client.keys_upload()
            self.client.add_event_callback(self._saw, (RoomMessageText, RoomMessageNotice,  # type: ignore[arg-type]
                                                       MegolmEvent))
            self.syncing = asyncio.create_task(self.client.sync_forever(timeout=1000, full_state=True))
            await wait_for(lambda: _true(self.client.rooms), 20)
        else:
            status, answer = await self.call("POST", "/login", {
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": self.user.user_id},
                "password": self.user.password, "initial_device_display_name": "skript"})
            assert status == 200, answer
            self.token = answer["access_token"]
        return self

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with aiohttp.ClientSession() as http, http.request(
                method, f"{self.hs.url}/_matrix/client/v3{path}", json=body, headers=headers) as answer:
            return answer.status, await answer.json()

    async def send_plain(self, room_id: str, body: str) -> str:
        """A message in the clear, whatever the room."""
        status, answer = await self.call("PUT", f"/rooms/{room_id}/send/m.room.message/{uuid.uuid4().hex}",
                                         {"msgtype": "m.text", "body": body})
        assert status == 200, answer
        return str(answer["event_id"])

    async def send(self, room_id: str, body: str) -> str:
        """An encrypted message, as the thief's own client sends one."""
        answer = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                             ignore_unverified_devices=True)
        assert isinstance(answer, RoomSendResponse), answer
        return answer.event_id

    async def react(self, room_id: str, event_id: str) -> str:
        """A ✅, in the clear as every client sends reactions."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": "✅"}}
        status, answer = await self.call("PUT", f"/rooms/{room_id}/send/m.reaction/{uuid.uuid4().hex}", content)
        assert status == 200, answer
        return str(answer["event_id"])

    async def open_direct(self, bot: str) -> str:
        """A direct room with the bot, unencrypted."""
        status, answer = await self.call("POST", "/createRoom", {"is_direct": True, "invite": [bot],
                                                                 "preset": "trusted_private_chat"})
        assert status == 200, answer
        return str(answer["room_id"])

    async def reset_identity(self) -> None:
        """Replace the account's cross-signing keys (the homeserver asks only for the password) and sign the
        thief's own session with them."""
        user_id, device_id = self.user.user_id, str(self.client.device_id)
        identity = crosssign.Identity.generate()
        body = crosssign.upload_body(user_id, identity)
        status, answer = await self.call("POST", "/keys/device_signing/upload", body)
        if status == 401:
            body["auth"] = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id},
                            "password": self.user.password, "session": answer.get("session")}
            status, answer = await self.call("POST", "/keys/device_signing/upload", body)
        assert status == 200, answer
        status, query = await self.call("POST", "/keys/query", {"device_keys": {user_id: [device_id]}})
        device = query["device_keys"][user_id][device_id]
        status, answer = await self.call("POST", "/keys/signatures/upload",
                                         crosssign.device_signature(user_id, device, identity))
        assert status == 200 and not answer.get("failures"), answer

    async def delete_device(self, device_id: str) -> None:
        """Sign out another session of the account (the homeserver asks only for the password)."""
        body: dict[str, Any] = {"devices": [device_id]}
        status, answer = await self.call("POST", "/delete_devices", body)
        if status == 401:
            body["auth"] = {"type": "m.login.password", "session": answer.get("session"),
                            "password": self.user.password,
                            "identifier": {"type": "m.id.user", "user": self.user.user_id}}
            status, answer = await self.call("POST", "/delete_devices", body)
        assert status == 200, answer

    async def log_out(self) -> None:
        """The victim signs the thief's session out."""
        status, answer = await self.call("POST", "/logout", {})
        assert status == 200, answer
        await self.stop()

    async def stop(self) -> None:
        if self.syncing is not None:
            self.syncing.cancel()
            self.syncing = None
        await self.client.close()


async def _true(value: Any) -> Any:
    return value


async def encrypted_forum(world: World, extra: Callable[[dict[str, Any]], None] | None = None
                          ) -> tuple[str, Settings]:
    """A new encrypted room, everyone invited, as the samordnande forum's room (by its room id)."""
    invite = [u.user_id for n, u in world.people.items() if n != "admin"] + [world.bot.user_id]
    answer = await world.clients["admin"].room_create(name=f"krypterat{uuid.uuid4().hex[:6]}", invite=invite,
                                                      initial_state=[ENCRYPTED],
                                                      power_level_override={"users": {world.bot.user_id: 50}})
    room_id: str = answer.room_id  # type: ignore[union-attr]

    def encrypted(data: dict[str, Any]) -> None:
        data["matrix"]["encryption"] = True
        data["forum"][0]["room"] = room_id
        if extra:
            extra(data)

    return room_id, world.settings(encrypted)


async def rung(world: World, who: str) -> list[dict[str, Any]]:
    """The messages that made `who`'s phone ring, as the homeserver decided: a notification with sound or a
    highlight (a message in an encrypted group room only shows a badge; an invitation is no message)."""
    async with aiohttp.ClientSession() as http, http.get(
            f"{world.hs.url}/_matrix/client/v3/notifications",
            headers={"Authorization": f"Bearer {world.people[who].access_token}"}) as answer:
        body = await answer.json()
    return [n for n in body["notifications"] if n["event"]["type"] in ("m.room.message", "m.room.encrypted")
            and any(isinstance(a, dict) and (a.get("set_tweak") == "sound" or
                                            (a.get("set_tweak") == "highlight" and a.get("value", True)))
                   for a in n["actions"])]


async def refusals(app: App) -> list[tuple[str, str, str]]:
    async with app.db.session() as session:
        rows = (await session.exec(select(AuditEntry).where(col(AuditEntry.allowed).is_(False))
                                   .order_by(col(AuditEntry.id)))).all()
    return [(a.user_id, a.action, json.loads(a.detail).get("reason", "")) for a in rows]


async def convocations(app: App) -> int:
    async with app.db.session() as session:
        return len((await session.exec(select(Convocation))).all())


async def forum_active(app: App) -> bool:
    async with app.db.session() as session:
        return (await forum_store.forum_state(session, "samordnande")).active


async def sent(app: App, ref_prefix: str, target: str | None = None) -> tuple[str, str]:
    """(room id, event id) of the bot's first message about `ref_prefix` that has gone out."""

    async def find() -> tuple[str, str] | None:
        async with app.db.session() as session:
            query = select(OutboxMessage).where(col(OutboxMessage.ref).startswith(ref_prefix),
                                                col(OutboxMessage.event_id).is_not(None))
            if target is not None:
                query = query.where(OutboxMessage.target == target)
            row = (await session.exec(query.order_by(col(OutboxMessage.id)))).first()
        return (str(row.room_id), str(row.event_id)) if row and row.room_id else None

    found: tuple[str, str] = await wait_for(find, 30)
    return found


def reply_to(world: World, room_id: str, event_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: from_bot(world.bot.user_id, room_id)(e) and \
        e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id


async def plain_reply(world: World, room_id: str, event_id: str) -> str:
    """The bot's answer in an unencrypted room, as its members read it."""

    async def find() -> str | None:
        for event in await room_events(world.clients["admin"] if room_id in world.rooms.values()
                                       else world.clients["tib"], room_id):
            relates = event.get("content", {}).get("m.relates_to", {})
            if event["sender"] == world.bot.user_id and relates.get("m.in_reply_to", {}).get("event_id") == event_id:
                return str(event["content"]["body"])
        return None

    found: str = await wait_for(find, 30)
    return found


async def test_plaintext_commands_ring_nobody_in_the_forum_a_direct_room_the_home_room_or_the_log_room(
        world: World, phones: Any, thieves: Any) -> None:
    """Attacks 1 and 3: with the password, `!aktivera` sent in the clear (into the encrypted forum room, into a
    direct room the thief opens unencrypted, into the home and log rooms) is refused, each in one sentence and
    one audit row; reading stays open; the victim's verified phone then activates."""
    room_id, settings = await encrypted_forum(world)
    tib, sos = await phones("tib"), await phones("sos")  # SOS Alarm's phone answers the invitations it gets
    for p in (tib, sos):
        await p.join(room_id)
    app = await world.start_bot(settings)
    thief = await thieves("tib", keys=False)

    into_forum = await thief.send_plain(room_id, "!aktivera samordnande klartextlarm")
    refusal = await tib.wait(reply_to(world, room_id, into_forum))
    assert refusal["encrypted"] and "tas inte emot okrypterade" in text(refusal), refusal

    # The thief leaves the direct room the bot opened with the victim (the bot forgets it) and opens one of
    # their own, unencrypted, hoping the victim's next convocation goes there.
    tib_id = world.people["tib"].user_id
    opened = await direct_room(app, world.people["tib"], 60)
    assert (await thief.call("POST", f"/rooms/{opened}/leave", {}))[0] == 200
    await wait_for(lambda: _true(tib_id not in app.matrix.rooms.direct_rooms), 30)
    direct = await thief.open_direct(world.bot.user_id)
    await wait_for(lambda: _joined(world, direct), 30)
    tried = {direct: await thief.send_plain(direct, "!aktivera samordnande klartextlarm")}
    for name in ("lst", "logg"):
        tried[world.rooms[name]] = await thief.send_plain(world.rooms[name], "!aktivera samordnande klartextlarm")
    for room, event_id in tried.items():
        answer = await plain_reply(world, room, event_id)
        assert "tas inte emot okrypterade" in answer and answer.count("Du får inte göra det") == 1, answer
    read = await thief.send_plain(direct, "!status samordnande")
    assert "Regionalt samordnande forum" in await plain_reply(world, direct, read), "reading stays open"

    await settle(app)
    assert await convocations(app) == 0 and not await forum_active(app), "the forum is still ordinary"
    assert await refusals(app) == [(world.people["tib"].user_id, "command:aktivera", "error.plaintext")] * 4
    for who in BYSTANDERS:
        assert await rung(world, who) == [], f"{who} was rung"

    await tib.send(room_id, "!aktivera samordnande storm")  # the positive control: the verified phone
    await wait_for(lambda: forum_active(app), 60)
    await wait_for(lambda: rung(world, "sos"), 60)
    assert len(await refusals(app)) == 4, "no new refusal"
    convened_in, _ = await sent(app, "conv:", f"user:{tib_id}")
    assert convened_in != direct, "the thief's unencrypted room never carries the victim's convocation"
    assert not [e for e in await room_events(world.clients["tib"], direct)
                if e["sender"] == world.bot.user_id and "Du kallas" in e.get("content", {}).get("body", "")]


async def _joined(world: World, room_id: str) -> bool:
    answer = await world.clients["tib"].joined_members(room_id)
    return world.bot.user_id in [m.user_id for m in getattr(answer, "members", [])]


async def test_a_plaintext_tick_counts_only_when_every_session_of_its_sender_is_verified(
        world: World, phones: Any, thieves: Any) -> None:
    """Attack 2: while the thief's session exists, a ✅ on the TiB's convocation is noted but the escalation goes
    on to the deputy, and a ✅ on an activation request confirms nothing; a ✅ from SOS Alarm (all sessions
    verified) acknowledges, and once the thief's session is signed out the TiB's own ✅ confirms."""
    room_id, settings = await encrypted_forum(world)
    clock = FakeClock(datetime.now(UTC))
    tib, sos = await phones("tib"), await phones("sos")
    for p in (tib, sos):
        await p.join(room_id)
    app = await world.start_bot(settings, clock)
    thief = await thieves("tib", keys=True)
    tib_id, sos_id = world.people["tib"].user_id, world.people["sos"].user_id

    await tib.send(room_id, "!kalla samordnande avstämning")  # from the verified phone: convened
    dm, convocation = await sent(app, "conv:", f"user:{tib_id}")
    await thief.react(dm, convocation)

    async def noted() -> bool:
        async with app.db.session() as session:
            rows = (await session.exec(select(Summons).where(Summons.function_id == "lst-tib"))).all()
        return bool(rows) and rows[0].ack_by == tib_id

    await wait_for(noted, 60)
    await settle(app)
    assert await refusals(app) == [(tib_id, "acknowledge", "error.unverified_sessions")]
    told = await tib.wait(lambda e: from_bot(world.bot.user_id, dm)(e) and "räknas inte" in text(e))
    assert told["content"]["msgtype"] == "m.notice"
    _, sos_convocation = await sent(app, "conv:", f"user:{sos_id}")
    sos_dm = (await sent(app, "conv:", f"user:{sos_id}"))[0]
    await sos.react(sos_dm, sos_convocation)  # the positive control: every session of SOS Alarm is verified

    async def sos_acknowledged() -> bool:
        async with app.db.session() as session:
            rows = (await session.exec(select(Summons).where(Summons.function_id == "sos-vakthavande"))).all()
        return bool(rows) and rows[0].ack_at is not None

    await wait_for(sos_acknowledged, 60)

    clock.advance(timedelta(minutes=5))  # ack_within: the TiB counts as unanswered
    assert await app.timers.fire_due() == 1, "only the TiB's summons escalates"
    # The deputy is convened as if nobody had answered: its direct message goes out.
    await sent(app, "conv:", f"user:{world.people['rsib'].user_id}")
    asked = await tib.send(room_id, "!kallelse samordnande")
    report = text(await tib.wait(reply_to(world, room_id, asked)))
    assert "medan en overifierad session fanns" in report and "Kvitterat 1 av 3" in report, report

    await sos.send(room_id, "!aktivera samordnande storm")  # a member asks; the TiB is to confirm
    request_room, request = await sent(app, "request:")
    rung_before = {who: len(await rung(world, who)) for who in BYSTANDERS}
    tick = await thief.react(request_room, request)
    await wait_for(lambda: _refused(app, "reaction:request"), 60)
    await settle(app)
    assert await convocations(app) == 1 and not await forum_active(app), "the request is not confirmed"
    assert [r for r in await refusals(app) if r[1] == "reaction:request"] == [
        (tib_id, "reaction:request", "error.unverified_sessions")], "one audit row"
    assert await answers(app, tick) == 1, "answered once"
    assert {who: len(await rung(world, who)) for who in BYSTANDERS} == rung_before, "nobody rung"

    await thief.log_out()  # the victim signs the thief out: every session left is verified
    await tib.react(request_room, request, "👍")  # the account's ✅ is there already; a 👍 says the same
    await wait_for(lambda: forum_active(app), 60)
    assert await convocations(app) == 2


async def answers(app: App, cause: str) -> int:
    """How many messages the bot sends because of event `cause`."""
    ids = {transaction_id(cause, i) for i in range(20)}
    async with app.db.session() as session:
        return len((await session.exec(select(OutboxMessage).where(col(OutboxMessage.txn_id).in_(ids)))).all())


async def _refused(app: App, action: str) -> bool:
    return any(r[1] == action for r in await refusals(app))


async def test_a_reset_identity_is_refused_until_an_administrator_approves_it(
        world: World, phones: Any, thieves: Any) -> None:
    """Attack 4: with the password the thief replaces the account's cross-signing keys and signs its own session;
    its encrypted `!aktivera` is refused (the bot pinned the master key it saw ahead of time), the log room is
    told once, nobody is rung; after the administrator's `!identitet godkänn` with the new key's fingerprint,
    the new identity acts."""
    room_id, settings = await encrypted_forum(world)
    tib, admin, sos = await phones("tib"), await phones("admin"), await phones("sos")
    for p in (tib, admin, sos):
        await p.join(room_id)
    app = await world.start_bot(settings)
    tib_id = world.people["tib"].user_id
    asked = await tib.send(room_id, "!vem tib")  # the bot learns the TiB's identity
    await tib.wait(reply_to(world, room_id, asked))

    async def pinned() -> str | None:
        async with app.db.session() as session:
            pin = await session.get(IdentityPin, tib_id)
        return pin.pinned_key if pin else None

    first = await wait_for(pinned, 30)

    thief = await thieves("tib", keys=True)
    await thief.reset_identity()
    for _ in range(2):
        await thief.send(room_id, "!aktivera samordnande identitetslarm")
    await wait_for(lambda: _count(app, "error.identity_changed", 2), 60)
    await settle(app)
    assert await convocations(app) == 0 and not await forum_active(app)
    assert [r for r in await refusals(app) if r[1] != "identity:changed"] == [
        (tib_id, "command:aktivera", "error.identity_changed")] * 2
    assert [r[:2] for r in await refusals(app) if r[1] == "identity:changed"] == [(tib_id, "identity:changed")]
    told = [e for e in await room_events(world.clients["admin"], world.rooms["logg"])
            if e["sender"] == world.bot.user_id and "ny identitet" in e["content"].get("body", "")]
    assert len(told) == 1 and tib_id in told[0]["content"]["body"], "the log room is told once"
    for who in BYSTANDERS:
        assert await rung(world, who) == [], f"{who} was rung"
    assert await pinned() == first, "the pin has not moved"
    await wait_for(lambda: _true(len(thief.from_bot(world.bot.user_id, room_id)) >= 2), 30)  # the two refusals
    assert all(isinstance(e, MegolmEvent) for e in thief.from_bot(world.bot.user_id, room_id)), \
        "no room key for the new identity's session: the thief cannot read the bot"

    # The thief signs the victim's phone out too: every session left is signed by the new identity, so a ✅
    # is held back by the pinned identity alone.
    await thief.delete_device(tib.device_id)
    await sos.send(room_id, "!aktivera samordnande storm")  # a member asks; the TiB is to confirm
    request_room, request = await sent(app, "request:")
    tick = await thief.react(request_room, request)
    await wait_for(lambda: _refused(app, "reaction:request"), 60)
    await settle(app)
    assert [r for r in await refusals(app) if r[1] == "reaction:request"] == [
        (tib_id, "reaction:request", "error.identity_changed")]
    assert await answers(app, tick) == 1 and await convocations(app) == 0 and not await forum_active(app)

    async with app.db.session() as session:
        waiting = await session.get(IdentityPin, tib_id)
    assert waiting is not None
    approve = await admin.send(room_id, f"!identitet godkänn {tib_id} {identity.fingerprint(waiting.seen_key)}")
    assert "är godkänd" in text(await admin.wait(reply_to(world, room_id, approve)))
    assert await pinned() != first
    await thief.send(room_id, "!aktivera samordnande identitetslarm")
    await wait_for(lambda: forum_active(app), 60)
    async with app.db.session() as session:
        approvals = (await session.exec(select(AuditEntry).where(AuditEntry.action == "identity:approve"))).all()
    assert [(a.user_id, json.loads(a.detail)["user"]) for a in approvals] == [(world.people["admin"].user_id, tib_id)]


async def _count(app: App, reason: str, count: int) -> bool:
    return sum(1 for r in await refusals(app) if r[2] == reason) >= count


async def _inactive(app: App) -> bool:
    return not await forum_active(app)


async def test_a_replayed_ciphertext_of_the_victims_command_is_refused_after_a_restart(
        world: World, phones: Any, thieves: Any) -> None:
    """The thief (password only, no keys) copies the ciphertext of the TiB's earlier `!aktivera` (sent from the
    verified phone) and sends it again as a new event after the bot restarted: it decrypts, from the verified
    phone's key, but the bot has kept its Megolm session and message index and refuses it, once, audited."""
    room_id, settings = await encrypted_forum(world)
    tib, sos = await phones("tib"), await phones("sos")
    for p in (tib, sos):
        await p.join(room_id)
    app = await world.start_bot(settings)
    thief = await thieves("tib", keys=False)
    original = await tib.send(room_id, "!aktivera samordnande storm")
    await wait_for(lambda: forum_active(app), 60)
    off = await tib.send(room_id, "!avaktivera samordnande")
    await tib.wait(reply_to(world, room_id, off))
    await wait_for(lambda: _inactive(app), 60)
    before = await convocations(app)
    status, event = await thief.call("GET", f"/rooms/{room_id}/event/{original}")
    assert status == 200 and event["type"] == "m.room.encrypted", event

    await world.stop_bots()
    app = await world.start_bot(settings)
    replayed_at = datetime.now(UTC).timestamp() * 1000
    status, answer = await thief.call("PUT", f"/rooms/{room_id}/send/m.room.encrypted/{uuid.uuid4().hex}",
                                      event["content"])
    assert status == 200, answer
    replay = str(answer["event_id"])
    await wait_for(lambda: _refused(app, "message"), 60)
    await settle(app)
    assert not await forum_active(app), "the replayed ciphertext activated the forum again"
    assert await convocations(app) == before
    assert [r for r in await refusals(app) if r[2] == "error.replayed"] == [
        (world.people["tib"].user_id, "message", "error.replayed")]
    assert await answers(app, replay) == 0, "a replay gets no answer, only a log line"
    for who in BYSTANDERS:
        assert [n for n in await rung(world, who) if n["ts"] >= replayed_at] == [], f"{who} was rung by the replay"


async def test_an_outsider_invited_by_the_thief_reads_nothing_the_bot_sends(
        world: World, phones: Any, thieves: Any) -> None:
    """With the TiB's password the thief tries to invite an account of their own (cross-signed by itself) into
    the TiB's encrypted direct room with the bot: in a room the bot opened, only the bot may invite. In a
    direct room where the person may invite (one opened by an earlier version), the outsider gets in, and the
    bot leaves the room at once, tells the log room once, and sends the TiB's answers and convocations to a
    new room: the outsider decrypts nothing from the bot."""
    room_id, settings = await encrypted_forum(world)
    tib, mallory = await phones("tib"), await phones("outsider")
    await tib.join(room_id)
    app = await world.start_bot(settings)
    thief = await thieves("tib", keys=False)
    tib_id, outsider = world.people["tib"].user_id, world.people["outsider"].user_id
    dm = await direct_room(app, world.people["tib"], 60)
    await tib.join(dm)
    status, answer = await thief.call("POST", f"/rooms/{dm}/invite", {"user_id": outsider})
    assert status == 403, "in a direct room the bot opened, the person cannot invite anyone"

    levels = await app.matrix.rooms.room_state(dm, "m.room.power_levels")  # as an earlier version made it
    await app.matrix.client.room_put_state(dm, "m.room.power_levels",
                                           {**levels, "users": {**levels.get("users", {}), tib_id: 100}})
    status, answer = await thief.call("POST", f"/rooms/{dm}/invite", {"user_id": outsider})
    assert status == 200, answer
    await mallory.join(dm)

    async def left() -> bool:
        status, members = await thief.call("GET", f"/rooms/{dm}/joined_members")
        return status == 200 and world.bot.user_id not in members["joined"]

    await wait_for(left, 30)
    await settle(app)
    asked = await tib.send(dm, "!status samordnande")  # the victim's own verified phone, in the old room
    await tib.send(room_id, "!kalla samordnande hemligt möte")
    new_dm = await wait_for(lambda: _other_direct_room(app, tib_id, dm), 60)
    await tib.join(new_dm)
    await tib.wait(lambda e: from_bot(world.bot.user_id, new_dm)(e) and "hemligt" in text(e))
    await settle(app)
    assert await answers(app, asked) == 0, "nothing more is sent in the room the outsider was let into"
    read = [text(e) for e in mallory.events if from_bot(world.bot.user_id, dm)(e) and text(e)]
    assert read == [], f"the outsider read the bot in the direct room: {read}"
    assert [r for r in await refusals(app) if r[1] == "direct_room:shared"] == [
        (tib_id, "direct_room:shared", "error.direct_room_shared")]
    told = [e for e in await room_events(world.clients["admin"], world.rooms["logg"])
            if e["sender"] == world.bot.user_id and "släpptes" in e["content"].get("body", "")]
    assert len(told) == 1 and outsider in told[0]["content"]["body"], "the log room is told once"

    # A direct room the thief opens as the TiB with the outsider invited too is left, and never the TiB's.
    status, answer = await thief.call("POST", "/createRoom", {"is_direct": True, "preset": "trusted_private_chat",
                                                              "invite": [world.bot.user_id, outsider],
                                                              "initial_state": [ENCRYPTED]})
    assert status == 200, answer
    shared = str(answer["room_id"])

    async def bot_left() -> bool:
        status, member = await thief.call("GET", f"/rooms/{shared}/state/m.room.member/{world.bot.user_id}")
        return status == 200 and member.get("membership") == "leave"

    await wait_for(bot_left, 30)
    assert app.matrix.rooms.direct_rooms.get(tib_id) == new_dm, "the room with the outsider is not the TiB's"


async def _other_direct_room(app: App, user_id: str, old: str) -> str | None:
    room = app.matrix.rooms.direct_rooms.get(user_id)
    return room if room not in (None, old) else None


async def test_a_first_identity_the_thief_creates_is_refused_told_once_and_rings_nobody(
        world: World, phones: Any, thieves: Any) -> None:
    """The TiB has never set up cross-signing (no Element phone yet): the thief creates the account's first
    identity and signs its own session with it. The bot looked the TiB up at its start and saw no identity, so
    this one is new: its encrypted `!aktivera` is refused, the log room told once with its fingerprint, nobody
    rung, and the thief's session gets no room key. (The positive control, an identity the bot pinned ahead of
    time acting at once, is the TiB's verified phone in the other tests here.)"""
    room_id, settings = await encrypted_forum(world)
    sos = await phones("sos")
    await sos.join(room_id)
    app = await world.start_bot(settings)
    tib_id = world.people["tib"].user_id
    thief = await thieves("tib", keys=True)
    await thief.client.join(room_id)
    await thief.reset_identity()  # no identity before: this is the account's first
    for _ in range(2):
        await thief.send(room_id, "!aktivera samordnande tjuvlarm")
    await wait_for(lambda: _count(app, "error.identity_new", 3), 60)  # two commands and the first sight
    await settle(app)
    assert not await forum_active(app) and await convocations(app) == 0, "the thief activated the forum"
    assert [r for r in await refusals(app) if r[2] == "error.identity_new"] == [
        (tib_id, "identity:first", "error.identity_new"),
        (tib_id, "command:aktivera", "error.identity_new"), (tib_id, "command:aktivera", "error.identity_new")]
    async with app.db.session() as session:
        pin = await session.get(IdentityPin, tib_id)
    assert pin is not None and pin.pinned_key == "" and pin.seen_key, "nothing trusted; the new key waits"
    async with app.db.session() as session:
        pinned = (await session.exec(select(AuditEntry).where(AuditEntry.action == "identity:pinned",
                                                               AuditEntry.user_id == tib_id))).all()
    assert [json.loads(a.detail)["key"] for a in pinned] == [None], "pinned ahead, once: no identity then"
    told = [e for e in await room_events(world.clients["admin"], world.rooms["logg"])
            if e["sender"] == world.bot.user_id and "identitet" in e["content"].get("body", "")]
    assert len(told) == 1, "the log room is told once"
    assert tib_id in told[0]["content"]["body"] and identity.fingerprint(pin.seen_key) in told[0]["content"]["body"]
    for who in BYSTANDERS:
        assert await rung(world, who) == [], f"{who} was rung"
    await wait_for(lambda: _true(len(thief.from_bot(world.bot.user_id, room_id)) >= 2), 30)  # the two refusals
    assert all(isinstance(e, MegolmEvent) for e in thief.from_bot(world.bot.user_id, room_id)), \
        "no room key for the new identity's session: the thief cannot read the bot"


async def test_the_documented_limit_a_keyless_sessions_tick_confirms(world: World, phones: Any, thieves: Any) -> None:
    """What stays open, shown rather than only said (docs/SECURITY.md, "What stays open"): a session that never
    uploads device keys is invisible to a key query, so its ✅ looks like the victim's own one-tap ✅ from a
    verified phone. It confirms an activation request, and nothing refuses it. If this test fails, the gap was
    closed: change docs/SECURITY.md with it."""
    room_id, settings = await encrypted_forum(world)
    tib, sos = await phones("tib"), await phones("sos")
    for p in (tib, sos):
        await p.join(room_id)
    app = await world.start_bot(settings)
    thief = await thieves("tib", keys=False)
    await sos.send(room_id, "!aktivera samordnande storm")
    request_room, request = await sent(app, "request:")
    await thief.react(request_room, request)
    await wait_for(lambda: forum_active(app), 60)
    await settle(app)
    assert await convocations(app) == 1, "the keyless session's ✅ confirmed the request: the documented limit"
    assert await refusals(app) == [], "nothing refused it: the bot cannot see the session"
