"""End-to-end encryption on the real homeserver, with people on encrypting nio clients (their phones).

The forum room is encrypted, the bot's direct rooms are created encrypted; the bot reads commands,
its convocation direct messages ring through the homeserver's one-to-one rule, a reaction
acknowledges, and after a restart the bot keeps its device and reads new messages.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DownloadResponse,
    InviteMemberEvent,
    MatrixRoom,
    RoomCreateResponse,
    RoomEncryptedFile,
    RoomMessageNotice,
    RoomMessageText,
    RoomSendResponse,
)
from nio.crypto import decrypt_attachment
from support import World, direct_room, room_events, wait_for

from bot.config import Settings
from dev.devserver import RegisteredUser

ENCRYPTED = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


class Phone:
    """A person's encrypting client: syncs, uploads and shares keys, joins what it is invited to."""

    def __init__(self, world: World, user: RegisteredUser, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(world.hs.url, user.user_id, store_path=str(store),
                                  config=AsyncClientConfig(encryption_enabled=True, max_timeouts=2,
                                                           request_timeout=20))
        self.user = user
        self.homeserver = world.hs.url
        self.read: list[tuple[str, Any]] = []  # (room id, decrypted text, notice or file)
        self.task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        await self.client.login(self.user.password, device_name="telefon")
        self.client.add_event_callback(self._message, (RoomMessageText, RoomMessageNotice,  # type: ignore[arg-type]
                                                       RoomEncryptedFile))
        self.client.add_event_callback(self._invited, InviteMemberEvent)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.client.sync_forever(timeout=300, full_state=True))

    async def _message(self, room: MatrixRoom, event: Any) -> None:
        self.read.append((room.room_id, event))

    async def _invited(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == self.user.user_id and event.membership == "invite":
            await self.client.join(room.room_id)

    async def ask(self, room_id: str, body: str, bot: str, needle: str) -> RoomMessageText:
        """Send an encrypted command; the bot's next decrypted message in the room that contains `needle`."""
        seen = len(self.read)
        answer = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                             ignore_unverified_devices=True)
        assert isinstance(answer, RoomSendResponse), answer

        async def find() -> RoomMessageText | None:
            return next((e for r, e in self.read[seen:] if r == room_id and e.sender == bot and needle in e.body),
                        None)

        found: RoomMessageText = await wait_for(find, 30)
        return found

    async def react(self, room_id: str, event_id: str, key: str = "✅") -> None:
        """An encrypted reaction, as Element sends it (nio itself would send it in the clear)."""
        client = self.client
        await client.joined_members(room_id)
        if client.should_query_keys:
            await client.keys_query()
        if client.olm is not None and client.olm.should_share_group_session(room_id):
            await client.share_group_session(room_id, ignore_unverified_devices=True)
        kind, content = client.encrypt(room_id, "m.reaction", {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})
        async with aiohttp.ClientSession() as http, http.put(
                f"{self.homeserver}/_matrix/client/v3/rooms/{room_id}/send/{kind}/{uuid.uuid4().hex}",
                json=content, headers={"Authorization": f"Bearer {client.access_token}"}) as answer:
            assert answer.status == 200, await answer.text()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.client.close()


async def encrypted_forum(world: World, *people: str) -> tuple[str, Settings, dict[str, Phone]]:
    """A new encrypted room for the samordnande forum, everyone invited, `people` on their phones in it;
    the bot's settings with encryption on and the forum in that room."""
    localpart = f"krypterat{uuid.uuid4().hex[:8]}"
    invite = [u.user_id for n, u in world.people.items() if n != "admin"] + [world.bot.user_id]
    answer = await world.clients["admin"].room_create(alias=localpart, invite=invite, initial_state=[ENCRYPTED],
                                                      power_level_override={"users": {world.bot.user_id: 50}})
    assert isinstance(answer, RoomCreateResponse), answer
    phones = {who: Phone(world, world.people[who], world.tmp / f"phone-{who}") for who in people}
    for phone in phones.values():
        await phone.start()
        await phone.client.join(answer.room_id)

    def encrypted(data: dict[str, Any]) -> None:
        data["matrix"]["encryption"] = True
        # nio's phones cannot cross-sign: the setting for homeservers whose users have no cross-signing.
        data["matrix"]["share_keys_with"] = "all"
        data["forum"][0]["room"] = f"#{localpart}:{world.hs.server_name}"

    return answer.room_id, world.settings(encrypted), phones


async def test_encrypted_forum_and_direct_messages_from_activation_to_acknowledgement_and_restart(
        world: World) -> None:
    room_id, settings, phones = await encrypted_forum(world, "tib", "sos")
    app = await world.start_bot(settings)
    device = app.matrix.device_id
    assert app.matrix.client.olm is not None
    assert list((world.tmp / "crypto").iterdir()), "the key store lives beside the database"
    sos_dm = await direct_room(app, world.people["sos"], 30)

    async def sos_joined() -> bool:
        room = phones["sos"].client.rooms.get(sos_dm)
        return room is not None and room.encrypted and room.member_count == 2

    await wait_for(sos_joined, 30)

    tib = phones["tib"]
    bot = world.bot.user_id
    reply = await tib.ask(room_id, "!aktivera samordnande storm", bot, "AKTIVERAT")
    assert reply.decrypted

    async def convocation() -> RoomMessageText | None:
        return next((e for r, e in phones["sos"].read if r == sos_dm and "Du kallas som" in e.body), None)

    dm = await wait_for(convocation, 30)
    assert dm.decrypted and "Vakthavande, SOS Alarm" in dm.body
    raw = next(e for e in await room_events(world.clients["sos"], sos_dm) if e["event_id"] == dm.event_id)
    assert raw["type"] == "m.room.encrypted"  # the homeserver only ever saw ciphertext

    async def rang() -> dict[str, Any] | None:
        sos = world.people["sos"]
        async with aiohttp.ClientSession() as http, http.get(
                f"{world.hs.url}/_matrix/client/v3/notifications",
                headers={"Authorization": f"Bearer {sos.access_token}"}) as answer:
            body = await answer.json()
        return next((n for n in body["notifications"] if n["event"]["event_id"] == dm.event_id), None)

    notification = await wait_for(rang, 15)
    assert {"set_tweak": "sound", "value": "default"} in notification["actions"]  # the phone rings

    await phones["sos"].react(sos_dm, dm.event_id)
    assert await tib.ask(room_id, "!kallelse", bot, "✅ Vakthavande, SOS Alarm")

    # The compiled lägesbild as a file on request; in an encrypted room the file is encrypted too.
    await tib.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!lägesbild fil"},
                               ignore_unverified_devices=True)

    async def attached() -> RoomEncryptedFile | None:
        return next((e for r, e in tib.read if r == room_id and isinstance(e, RoomEncryptedFile)), None)

    file = await wait_for(attached, 30)
    download = await tib.client.download(mxc=file.url)
    assert isinstance(download, DownloadResponse), download
    page = decrypt_attachment(download.body, file.key["k"], file.hashes["sha256"], file.iv).decode()
    assert "Samlad lägesbild: storm" in page and "Samlad lägesbild" not in download.body.decode(errors="ignore")

    await world.stop_bots()
    app = await world.start_bot(settings)
    assert app.matrix.device_id == device  # one device for the bot's life
    newcomer = phones["nacka"] = Phone(world, world.people["nacka"], world.tmp / "phone-nacka")
    await newcomer.start()
    await newcomer.client.join(room_id)  # a new member of the forum room gets the bot's room key

    async def bot_sees_newcomer() -> bool:
        room = app.matrix.client.rooms.get(room_id)
        return room is not None and world.people["nacka"].user_id in room.users

    await wait_for(bot_sees_newcomer, 30)
    assert await tib.ask(room_id, "!kallelse", bot, "✅ Vakthavande, SOS Alarm")

    async def newcomer_reads() -> bool:
        return any(r == room_id and e.sender == bot and "✅ Vakthavande" in e.body for r, e in newcomer.read)

    assert await wait_for(newcomer_reads, 60)  # a loaded machine: the key share takes a while
    for phone in phones.values():
        await phone.stop()


async def test_a_message_the_bot_cannot_decrypt_gets_one_request_to_send_it_again(world: World) -> None:
    room_id, settings, phones = await encrypted_forum(world, "tib")
    tib = phones["tib"]
    await world.start_bot(settings)
    # Encrypted for a session the bot never received, as from a device that did not share its key.
    content = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnB" + "x" * 40, "device_id": "PHONE",
               "sender_key": "a" * 43, "session_id": "b" * 43}
    seen = len(tib.read)
    for _ in range(2):
        answer = await world.clients["tib"].room_send(room_id, "m.room.encrypted", content)
        assert isinstance(answer, RoomSendResponse), answer

    async def asked() -> list[str] | None:
        found = [e.body for r, e in tib.read[seen:] if r == room_id and e.sender == world.bot.user_id]
        return found or None

    assert await wait_for(asked, 30) == [
        "Jag kunde inte läsa ditt krypterade meddelande (nyckeln saknas). Om det var ett kommando: "
        "skicka det igen."]
    assert "!hjälp" in (await tib.ask(room_id, "!hjälp", world.bot.user_id, "!hjälp")).body  # and it goes on
    assert [b for r, e in tib.read[seen:] if r == room_id and "kunde inte läsa" in (b := e.body)] == [
        "Jag kunde inte läsa ditt krypterade meddelande (nyckeln saknas). Om det var ett kommando: "
        "skicka det igen."]  # once per sender and session, not once per message
    await tib.stop()


async def test_a_lost_key_store_means_a_new_device_that_people_can_still_reach(world: World) -> None:
    room_id, settings, phones = await encrypted_forum(world, "tib")
    tib = phones["tib"]
    app = await world.start_bot(settings)
    old_device = app.matrix.device_id
    assert await tib.ask(room_id, "!status", world.bot.user_id, "Regionalt samordnande forum")
    await world.stop_bots()
    shutil.rmtree(world.tmp / "crypto")  # a restore without the crypto folder

    app = await world.start_bot(settings)
    assert app.matrix.device_id != old_device  # the old device's keys are gone for good
    assert await tib.ask(room_id, "!status", world.bot.user_id, "Regionalt samordnande forum")
    await tib.stop()


async def test_after_a_restart_a_direct_room_quiet_since_still_gets_its_convocation(world: World) -> None:
    """nio knows only the rooms a sync has shown it since the stored sync token: a direct room with no
    event since the last run must still be sent to (it is encrypted; nio must know it to encrypt)."""
    room_id, settings, phones = await encrypted_forum(world, "tib", "sos")
    app = await world.start_bot(settings)
    sos_dm = await direct_room(app, world.people["sos"], 30)

    async def sos_joined() -> bool:
        room = phones["sos"].client.rooms.get(sos_dm)
        return room is not None and room.member_count == 2

    await wait_for(sos_joined, 30)
    await world.stop_bots()
    app = await world.start_bot(settings)
    assert sos_dm not in app.matrix.client.rooms, "nothing happened there since the last run"
    await phones["tib"].ask(room_id, "!aktivera samordnande storm", world.bot.user_id, "AKTIVERAT")

    async def convocation() -> RoomMessageText | None:
        return next((e for r, e in phones["sos"].read if r == sos_dm and "Du kallas som" in e.body), None)

    dm = await wait_for(convocation, 30)
    assert dm.decrypted
    for phone in phones.values():
        await phone.stop()


async def test_a_direct_room_a_sync_saw_half_made_gets_its_convocation_encrypted(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync can show a room the bot is creating before its m.room.encryption event exists (Synapse writes
    the events one by one); a convocation sent to it at that moment still goes out encrypted, never in the
    clear."""
    room_id, settings, phones = await encrypted_forum(world, "tib", "sos")
    settings = settings.model_copy(update={"matrix": settings.matrix.model_copy(update={"open_direct_rooms": False})})
    create = AsyncClient.room_create

    async def seen_half_made(client: AsyncClient, *args: Any, **kwargs: Any) -> Any:
        answer = await create(client, *args, **kwargs)
        if client.user_id == world.bot.user_id and isinstance(answer, RoomCreateResponse):
            client.rooms[answer.room_id] = MatrixRoom(answer.room_id, client.user_id, False)  # as such a sync left it
        return answer

    monkeypatch.setattr(AsyncClient, "room_create", seen_half_made)
    app = await world.start_bot(settings)
    await phones["tib"].ask(room_id, "!aktivera samordnande storm", world.bot.user_id, "AKTIVERAT")
    sos_dm = await direct_room(app, world.people["sos"], 30)

    async def convocation() -> list[Any]:
        return [e for r, e in phones["sos"].read if r == sos_dm and "Du kallas som" in e.body]

    received = await wait_for(convocation, 30)
    assert [e.decrypted for e in received] == [True], "one convocation, encrypted"
    plain = [e for e in await room_events(world.clients["sos"], sos_dm) if e.get("type") == "m.room.message"]
    assert plain == [], "nothing in the clear"
    for phone in phones.values():
        await phone.stop()


async def test_a_forum_formed_for_the_event_gets_an_encrypted_room_whose_ping_the_invited_can_read(
        world: World) -> None:
    room_id, settings, phones = await encrypted_forum(world, "tib", "sos")
    app = await world.start_bot(settings)
    bot = world.bot.user_id
    await phones["tib"].ask(room_id, "!aktivera samordnande storm", bot, "AKTIVERAT")
    await phones["tib"].ask(room_id, "!bilda Vägar sos-vakthavande", bot, "är bildat")
    formed = await app.matrix.rooms.resolve(app.directory.forum("vagar").room)
    assert formed is not None

    async def ping() -> RoomMessageText | None:  # the phone joins on the invitation and reads the ping
        return next((e for r, e in phones["sos"].read if r == formed and e.sender == bot and "Vägar" in e.body),
                    None)

    found = await wait_for(ping, 60)
    assert found.decrypted and "storm" in found.body
    encrypted = await world.clients["sos"].room_get_state_event(formed, "m.room.encryption")
    assert getattr(encrypted, "content", {}).get("algorithm") == "m.megolm.v1.aes-sha2"
    for phone in phones.values():
        await phone.stop()
