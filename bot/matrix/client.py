"""The bot's Matrix connection: login that keeps one device, a sync loop that survives,
room joins and direct rooms. The only module (with outbox.py) that talks to nio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    JoinedRoomsResponse,
    JoinError,
    KeysQueryResponse,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    ProfileGetError,
    ReactionEvent,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMemberEvent,
    RoomMessageText,
    RoomResolveAliasResponse,
    SyncError,
    SyncResponse,
    WhoamiResponse,
)
from nio.api import RoomPreset
from nio.crypto import ENCRYPTION_ENABLED
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import SECRET_ENV, Settings
from bot.domain.clock import Clock
from bot.matrix import crosssign
from bot.matrix.crosssign import STORE_KEY_ENV, CrossSigningError
from bot.messages import Incoming, Reaction
from bot.state import repo
from bot.state.db import Database

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
BACKOFF_START = 1.0
LAST_SYNC = "last_sync_at"  # when a sync last succeeded: what `python -m bot health` checks
PROBE_EVERY = 1.0  # seconds between checks whether an unreachable homeserver is back
BACKOFF_CAP = 30.0  # seconds; a storm at 03:00 is no time to wait minutes for a reconnect

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}

# Handlers the adapter calls; they may raise, and the batch is then retried from the old token.
MessageHandler = Callable[[Incoming], Awaitable[None]]
ReactionHandler = Callable[[Reaction], Awaitable[None]]


class LoginFailed(Exception):
    """The bot could not log in; the message says what to fix."""


class MatrixAdapter:
    def __init__(self, settings: Settings, db: Database, clock: Clock, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.env = env
        self.user_id = settings.matrix.user_id
        wanted = settings.matrix.encryption
        self.encryption = ENCRYPTION_ENABLED if wanted is None else wanted
        store = settings.crypto_store()
        self.client = AsyncClient(
            settings.matrix.homeserver,
            self.user_id,
            store_path=str(store) if self.encryption else "",
            config=AsyncClientConfig(
                # Errors come back to our loops, which retry with their own backoff.
                max_limit_exceeded=0,
                max_timeouts=0,
                request_timeout=settings.matrix.request_timeout,
                encryption_enabled=self.encryption and ENCRYPTION_ENABLED,
                store_sync_tokens=False,  # the bot's database keeps the sync token
                pickle_key=env.get(STORE_KEY_ENV) or "DEFAULT_KEY",
            ),
        )
        if self.encryption and ENCRYPTION_ENABLED:
            store.mkdir(parents=True, exist_ok=True)
        self.on_message: MessageHandler | None = None
        self.on_undecryptable: MessageHandler | None = None
        self._told_undecryptable: set[tuple[str, str]] = set()  # (sender, session id) asked to re-send
        self.on_reaction: ReactionHandler | None = None
        self.after_sync: Callable[[], None] = lambda: None
        self.last_sync: float | None = None  # time.monotonic() of the last successful sync
        self.admins = set(settings.bot.admins)
        self.aliases: dict[str, str] = {}
        self.direct_rooms: dict[str, str] = {}  # user id -> the direct room, as stored
        self._direct_locks: dict[str, asyncio.Lock] = {}
        self._direct_data_lock = asyncio.Lock()
        self.configured_room_ids: set[str] = set()
        self.first_sync_at: datetime | None = None
        self.synced = asyncio.Event()
        self.stopped = False  # ends the loops even if a cancellation is lost
        self._sync_token: str | None = None
        # Rooms joined during this run: their history from before the join is not answered.
        self.joined_at: dict[str, datetime] = {}

    # ---- login ----

    async def login(self) -> None:
        """Log in once and keep the device: a restart reuses the stored token and device id."""
        if self.encryption and not ENCRYPTION_ENABLED:
            raise LoginFailed("[matrix] encryption = true needs matrix-nio's e2e extra: pip install 'matrix-nio[e2e]'")
        without_keys = await self._device_without_keys()
        await self._login()
        if self.client.olm is None:
            return
        lost_store = self.device_id == without_keys
        if lost_store:
            await self._new_device()
        log.info("end-to-end encryption on; device %s, keys in %s", self.device_id, self.settings.crypto_store())
        if self.settings.matrix.cross_signing:
            if self.client.should_upload_keys:
                await self.client.keys_upload()  # the device's keys must be on the homeserver to be signed
            try:
                # A lost key store lost the cross-signing keys with it: the new device gets a new identity.
                await crosssign.sign_own_device(self, self.settings.crypto_store(), self.env, replace=lost_store)
            except CrossSigningError as exc:
                raise LoginFailed(f"cross-signing: {exc}") from exc

    async def _device_without_keys(self) -> str | None:
        """The stored device, if it has synced before but its key store is gone (the homeserver
        already has its keys and would refuse new ones)."""
        async with self.db.session() as session:
            device_id = await repo.get_value(session, "device_id")
            synced = await repo.get_value(session, "sync_token")
        if not (self.encryption and device_id and synced):
            return None
        name = self.client.config.store_name or f"{self.user_id}_{device_id}.db"  # nio's store file
        return None if (self.settings.crypto_store() / name).exists() else device_id

    async def _new_device(self) -> None:
        """Log in as a new device when the key store was lost (a restore without its crypto folder)."""
        password = self.env.get("SAMVERKAN_PASSWORD")
        store = self.settings.crypto_store()
        if not password:
            raise LoginFailed(f"the encryption keys of device {self.device_id} are not in {store}: restore them "
                              "from the backup, or set SAMVERKAN_PASSWORD so the bot can log in as a new device")
        log.warning("the encryption keys of device %s are not in %s; logging in as a new device (people's "
                    "clients will show it as new)", self.device_id, store)
        client = self.client
        client.olm, client.store, client.device_id, client.access_token = None, None, None, ""
        login = await client.login(password, device_name=self.settings.matrix.device_name)
        if not isinstance(login, LoginResponse):
            raise LoginFailed(f"login as {self.user_id} failed: {login}")
        await self._store_login(login.access_token, login.device_id)

    async def _login(self) -> None:
        async with self.db.session() as session:
            token = await repo.get_value(session, "access_token")
            device_id = await repo.get_value(session, "device_id")
            self._sync_token = await repo.get_value(session, "sync_token")
            first = await repo.get_value(session, "first_sync_at")
        self.first_sync_at = datetime.fromisoformat(first) if first else None
        if token and device_id:
            self.client.restore_login(self.user_id, device_id, token)
            answer = await self.client.whoami()
            if isinstance(answer, WhoamiResponse):
                log.info("logged in as %s, device %s (stored)", self.user_id, device_id)
                return
            log.warning("the stored access token no longer works (%s); logging in again", answer)
        env_token = self.env.get("SAMVERKAN_ACCESS_TOKEN")
        password = self.env.get("SAMVERKAN_PASSWORD")
        if env_token:
            self.client.access_token = env_token
            answer = await self.client.whoami()
            if not isinstance(answer, WhoamiResponse) or not answer.device_id:
                raise LoginFailed(f"SAMVERKAN_ACCESS_TOKEN was refused by the homeserver: {answer}")
            self.client.restore_login(self.user_id, answer.device_id, env_token)
            await self._store_login(env_token, answer.device_id)
            return
        if not password:
            raise LoginFailed(f"set {' or '.join(SECRET_ENV)} in the environment")
        if device_id:
            self.client.device_id = device_id  # logging in again keeps the same device
        login = await self.client.login(password, device_name=self.settings.matrix.device_name)
        if not isinstance(login, LoginResponse):
            raise LoginFailed(f"login as {self.user_id} failed: {login}")
        await self._store_login(login.access_token, login.device_id)
        log.info("logged in as %s, device %s (new login)", self.user_id, login.device_id)

    async def _store_login(self, token: str, device_id: str) -> None:
        async with self.db.session() as session:
            await repo.set_value(session, "access_token", token)
            await repo.set_value(session, "device_id", device_id)

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    # ---- rooms ----

    def configured_rooms(self) -> list[str]:
        rooms = [forum.room for forum in self.settings.forums]
        rooms += [org.home_room for org in self.settings.organisations if org.home_room]
        if self.settings.bot.log_room:
            rooms.append(self.settings.bot.log_room)
        return list(dict.fromkeys(rooms))

    async def resolve(self, room: str) -> str | None:
        """A room id for an alias or id; None if the alias does not exist."""
        if room.startswith("!"):
            return room
        if room in self.aliases:
            return self.aliases[room]
        answer = await self.client.room_resolve_alias(room)
        if isinstance(answer, RoomResolveAliasResponse):
            self.aliases[room] = str(answer.room_id)
            return self.aliases[room]
        log.warning("room %s cannot be resolved: %s", room, answer)
        return None

    async def join_configured_rooms(self) -> None:
        """Join every room the configuration names; a missing room is logged, not fatal."""
        answer = await self.client.joined_rooms()
        already = set(answer.rooms) if isinstance(answer, JoinedRoomsResponse) else set()
        for room in self.configured_rooms():
            room_id = await self.resolve(room)
            if room_id is None:
                continue
            self.configured_room_ids.add(room_id)
            if room_id not in already:
                await self.join(room_id)

    async def join(self, room_id: str, attempts: int = 5) -> bool:
        """Join a room, waiting out rate limits a few times; False if it cannot be joined."""
        for _ in range(attempts):
            answer = await self.client.join(room_id)
            wait = retry_after(answer)
            if wait is None:
                break
            log.warning("joining %s: rate limited, waiting %.1f s", room_id, wait)
            await asyncio.sleep(wait)
        if isinstance(answer, JoinError):
            log.warning("cannot join %s: %s", room_id, answer.message)
            return False
        self.joined_at.setdefault(room_id, datetime.now(UTC))
        return True

    async def direct_room(self, user_id: str) -> str:
        """The one direct room with a person: created once, stored and reused."""
        if user_id in self.direct_rooms:
            return self.direct_rooms[user_id]
        async with self._direct_locks.setdefault(user_id, asyncio.Lock()):  # one room, even when asked twice at once
            return await self._direct_room(user_id)

    async def _direct_room(self, user_id: str) -> str:
        if user_id in self.direct_rooms:
            return self.direct_rooms[user_id]
        known = await self._stored_direct(user_id)
        if known:
            self.direct_rooms[user_id] = known
            return known
        profile = await self.client.get_profile(user_id)
        http_status = getattr(profile.transport_response, "status", None)
        if isinstance(profile, ProfileGetError) and (profile.status_code == "M_NOT_FOUND" or http_status == 404):
            raise DirectRoomError(user_id, "no such user")  # an invitation would go nowhere
        answer = await self.client.room_create(is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
                                               initial_state=[ENCRYPTION] if self.client.olm else [])
        if not isinstance(answer, RoomCreateResponse):
            wait = retry_after(answer)
            if wait is not None:
                raise RateLimited(f"opening a direct room with {user_id}", wait)
            raise DirectRoomError(user_id, answer)
        room_id = str(answer.room_id)
        await self._adopt_direct(user_id, room_id)
        return room_id

    async def _adopt_direct(self, user_id: str, room_id: str) -> None:
        """Remember the direct room with a person, and mark it direct for the bot's own clients (m.direct)."""
        await self.db.write(lambda session: repo.set_value(session, f"dm:{user_id}", room_id))
        self.direct_rooms[user_id] = room_id
        await self._mark_direct(user_id, room_id, add=True)

    async def _mark_direct(self, user_id: str, room_id: str, *, add: bool) -> None:
        path = f"/user/{quote(self.user_id)}/account_data/m.direct"
        async with self._direct_data_lock:  # read, change, write: one at a time
            await self._write_direct(path, user_id, room_id, add)

    async def _write_direct(self, path: str, user_id: str, room_id: str, add: bool) -> None:
        try:
            status, direct = await self.api("GET", path)
            rooms = [r for r in (direct.get(user_id) or []) if r != room_id] if status == 200 else []
            status, answer = await self.api("PUT", path, {**(direct if status == 200 else {}),
                                                          user_id: [*rooms, room_id] if add else rooms})
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            status, answer = 0, {"error": str(exc)}
        if status != 200:
            log.warning("cannot update m.direct for %s: %s", user_id, answer)

    async def _forget_direct(self, user_id: str, room_id: str) -> None:
        """The person left (or refused) their direct room: the next message opens a new one."""
        if await self._stored_direct(user_id) != room_id:
            return
        log.info("%s left their direct room %s; the next message to them opens a new one", user_id, room_id)
        await self.db.write(lambda session: repo.delete_value(session, f"dm:{user_id}"))
        self.direct_rooms.pop(user_id, None)
        await self._mark_direct(user_id, room_id, add=False)
        await self.client.room_leave(room_id)

    async def open_direct_rooms(self, users: list[str]) -> int:
        """Open the direct room with everyone who may be convened, ahead of the first convocation.

        Homeservers limit room creation hard (Synapse: about one a minute after a burst of 10), so
        rooms opened now, at the homeserver's pace, are rooms a 03:00 convocation does not wait for.
        Returns how many were opened now.
        """
        opened = 0
        for user_id in users:
            while not self.stopped:
                if user_id in self.direct_rooms:
                    break
                try:
                    await self.direct_room(user_id)
                    opened += 1
                    break
                except RateLimited as exc:
                    await asyncio.sleep(exc.wait)
                except DirectRoomError as exc:
                    log.warning("%s", exc)
                    break
        if opened:
            log.info("opened %d direct rooms", opened)
        return opened

    # ---- sync ----

    async def sync_forever(self) -> None:
        """Sync until cancelled; every failure waits with capped exponential backoff."""
        backoff = BACKOFF_START
        while not self.stopped:
            try:
                await self.sync_once()
                backoff = BACKOFF_START
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                log.warning("sync failed (%s); retrying within %.0f s", exc or type(exc).__name__, backoff)
                if isinstance(exc, OSError | TimeoutError | aiohttp.ClientError):
                    await self._until_reachable(backoff)  # the homeserver is away: back as soon as it is
                else:
                    await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)

    async def _until_reachable(self, at_most: float) -> None:
        """Wait `at_most` seconds, but stop as soon as the homeserver answers again.

        The backoff spares a struggling homeserver; a cheap probe every second means that after
        an outage the bot is back within a second of the homeserver, not half a minute later.
        """
        deadline = asyncio.get_running_loop().time() + at_most
        url = self.settings.matrix.homeserver.rstrip("/") + "/_matrix/client/versions"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_EVERY)) as http:
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(PROBE_EVERY)
                try:
                    async with http.get(url) as answer:
                        if answer.status == 200:
                            return
                except (aiohttp.ClientError, OSError, TimeoutError):
                    continue

    async def sync_once(self) -> None:
        first = self._sync_token is None
        # The first sync of a run returns at once, so the bot is ready without a long poll.
        answer = await self.client.sync(
            timeout=SYNC_TIMEOUT_MS if self.synced.is_set() else 0,
            since=self._sync_token,
            sync_filter={"room": {"timeline": {"limit": 1 if first else 100}}},
        )
        if isinstance(answer, SyncError) or not isinstance(answer, SyncResponse):
            raise ConnectionError(f"sync answered {answer}")
        if first:
            # History from before the first sync is never answered.
            self.first_sync_at = datetime.now(UTC)
            async with self.db.session() as session:
                await repo.set_value(session, "first_sync_at", self.first_sync_at.isoformat())
        else:
            await self._dispatch(answer)
        await self._handle_invites(answer)
        if self.client.olm is not None:
            await self._maintain_keys()
        async def remember(session: AsyncSession) -> None:
            await repo.set_value(session, "sync_token", answer.next_batch)
            await repo.set_value(session, LAST_SYNC, datetime.now(UTC).isoformat())

        await self.db.write(remember)
        self._sync_token = answer.next_batch
        self.last_sync = time.monotonic()
        self.synced.set()
        self.after_sync()

    async def _maintain_keys(self) -> None:
        """Upload the bot's keys, learn members' devices, open Olm sessions, send queued key shares."""
        client = self.client
        try:
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await self._query_keys()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except LocalProtocolError as exc:  # another task did it meanwhile
            log.debug("key maintenance: %s", exc)

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """A client-server API call nio has no method for: (HTTP status, JSON answer)."""
        answer = await self.client.send(method, f"/_matrix/client/v3{path}",
                                        None if body is None else json.dumps(body),
                                        headers={"Authorization": f"Bearer {self.client.access_token}",
                                                 "Content-Type": "application/json"})
        async with answer:
            data = await answer.json(content_type=None)
        return answer.status, data if isinstance(data, dict) else {}

    async def _query_keys(self) -> None:
        """nio's key query, plus the cross-signing keys nio ignores: which devices their owners signed."""
        users = sorted(self.client.users_for_key_query)
        status, raw = await self.api("POST", "/keys/query", {"device_keys": {user: [] for user in users}})
        if status != 200:
            raise ConnectionError(f"keys/query answered {status}: {raw.get('errcode')}")
        response = KeysQueryResponse.from_dict(raw)
        if not isinstance(response, KeysQueryResponse):
            raise ConnectionError(f"keys/query answered {response}")
        await self.client.receive_response(response)
        if self.settings.matrix.share_keys_with == "cross-signed":
            for user_id in raw.get("device_keys", {}):
                self._apply_trust(user_id, crosssign.trusted_devices(raw, user_id))

    def _apply_trust(self, user_id: str, trusted: set[str]) -> None:
        """Room keys only for devices their owner has cross-signed: nio skips blacklisted devices."""
        client = self.client
        for device in client.device_store.active_user_devices(user_id):
            if device.id in trusted and device.blacklisted:
                client.unblacklist_device(device)
            elif device.id not in trusted and not device.blacklisted:
                log.info("device %s of %s is not cross-signed by its owner: no room keys for it", device.id, user_id)
                client.blacklist_device(device)  # nio starts a new room key in the rooms they share

    def device_trusted(self, user_id: str, device_id: str) -> bool:
        """False for a device the bot knows and does not trust (not cross-signed by its owner)."""
        if self.client.olm is None:
            return True
        device = self.client.device_store.active_user_devices(user_id)
        return not any(d.id == device_id and d.blacklisted for d in device)

    async def room_state(self, room_id: str, event_type: str) -> dict[str, Any]:
        """A room's current state event content; empty when the room has none."""
        answer = await self.client.room_get_state_event(room_id, event_type)
        if isinstance(answer, RoomGetStateEventResponse):
            return dict(answer.content)
        if getattr(answer, "status_code", None) != "M_NOT_FOUND":
            raise ConnectionError(f"reading {event_type} of {room_id}: {answer}")
        return {}

    def expect_member(self, room_id: str, user_id: str) -> None:
        """Count the person the bot invited to its direct room as a member, joined or not, so the room
        key of a message sent before they join is shared with their devices too (nio may not have
        seen the invitation: it only learns members from sync)."""
        room = self.client.rooms.get(room_id)
        if room is None or user_id in room.users:
            return
        room.add_member(user_id, None, None, invited=True)
        if room.encrypted and self.client.olm is not None:
            self.client.olm.update_tracked_users(room)
            self.client.invalidate_outbound_session(room_id)

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room is not None and room.encrypted and self.client.olm is not None)

    async def _undecryptable(self, room_id: str, event: MegolmEvent) -> None:
        """A message the bot cannot read: log it, ask the sender's devices for the key, and the sender
        to re-send (once per sender and session, so a busy room is not flooded)."""
        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if event.sender == self.user_id or self._too_old(room_id, sent_at):
            return
        log.warning("cannot decrypt %s from %s (device %s) in %s: no key for session %s",
                    event.event_id, event.sender, event.device_id, room_id, event.session_id)
        with contextlib.suppress(LocalProtocolError):  # raised when already asked
            await self.client.request_room_key(event)
        told = (event.sender, event.session_id)
        if told in self._told_undecryptable or self.on_undecryptable is None:
            return
        self._told_undecryptable.add(told)
        room = self.client.rooms.get(room_id)
        await self.on_undecryptable(Incoming(
            room_id=room_id, sender=event.sender, event_id=event.event_id, body="", sent_at=sent_at,
            is_direct=bool(room and room.member_count == 2) and room_id not in self.configured_room_ids,
            device_unsigned=not self.device_trusted(event.sender, event.device_id),
            thread_root=thread_of(event.source.get("content"))))

    async def _dispatch(self, answer: SyncResponse) -> None:
        for room_id, info in answer.rooms.join.items():
            room = self.client.rooms.get(room_id)
            for event in info.timeline.events:
                if isinstance(event, RoomMemberEvent) and event.membership in ("leave", "ban") \
                        and event.state_key != self.user_id:
                    await self._forget_direct(event.state_key, room_id)
                    continue
                if isinstance(event, MegolmEvent):  # still encrypted: nio had no key for it
                    await self._undecryptable(room_id, event)
                    continue
                if isinstance(event, ReactionEvent):
                    reaction = self._reaction(room_id, event)
                    if reaction is not None and self.on_reaction is not None:
                        await self.on_reaction(reaction)
                    continue
                incoming = self._incoming(room_id, event, room.member_count if room else 0)
                if incoming is not None and self.on_message is not None:
                    await self.on_message(incoming)

    def _too_old(self, room_id: str, sent_at: datetime) -> bool:
        not_before = self.joined_at.get(room_id) or self.first_sync_at
        return not_before is not None and sent_at < not_before

    def _reaction(self, room_id: str, event: ReactionEvent) -> Reaction | None:
        if event.sender == self.user_id or not isinstance(event.key, str):
            return None
        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if self._too_old(room_id, sent_at):
            return None
        return Reaction(room_id, event.sender, event.event_id, event.reacts_to, event.key, sent_at)

    def _incoming(self, room_id: str, event: Any, member_count: int) -> Incoming | None:
        if not isinstance(event, RoomMessageText) or event.sender == self.user_id:
            return None
        content = event.source.get("content", {})
        if not isinstance(content, dict) or not isinstance(event.body, str):
            return None
        relates = content.get("m.relates_to")
        relation = relates.get("rel_type") if isinstance(relates, dict) else None
        if relation == "m.replace":
            return None  # an edit; the original was already handled

        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if self._too_old(room_id, sent_at):
            return None
        return Incoming(room_id=room_id, sender=event.sender, event_id=event.event_id, body=event.body,
                        sent_at=sent_at, is_direct=member_count == 2 and room_id not in self.configured_room_ids,
                        thread_root=thread_of(content))

    async def _handle_invites(self, answer: SyncResponse) -> None:
        """Accept invitations from admins and to configured rooms; decline the rest."""
        for room_id, info in answer.rooms.invite.items():
            invitation = next((e for e in info.invite_state
                               if isinstance(e, InviteMemberEvent) and e.state_key == self.user_id), None)
            inviter = invitation.sender if invitation else None
            direct = bool(invitation and invitation.content.get("is_direct"))
            if direct and inviter in self.known_people():
                if await self.join(room_id):
                    log.info("joined the direct room %s that %s opened", room_id, inviter)
                    if inviter not in self.direct_rooms and not await self._stored_direct(inviter):
                        await self._adopt_direct(inviter, room_id)
            elif inviter in self.admins or room_id in self.configured_room_ids:
                if await self.join(room_id):
                    log.info("joined %s on invitation from %s", room_id, inviter)
            else:
                await self.client.room_leave(room_id)
                log.info("declined invitation to %s from %s (not an admin)", room_id, inviter)

    def known_people(self) -> set[str]:
        """Everyone the configuration names: function holders and admins."""
        return {user for f in self.settings.functions for user in f.holders} | set(self.settings.bot.admins)

    async def _stored_direct(self, user_id: str) -> str | None:
        async with self.db.session() as session:
            return await repo.get_value(session, f"dm:{user_id}")

    async def close(self) -> None:
        await self.client.close()


def thread_of(content: object) -> str | None:
    """The root of the thread a message was sent in (thread relations stay unencrypted)."""
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    if isinstance(relates, dict) and relates.get("rel_type") == "m.thread" and isinstance(relates.get("event_id"), str):
        return str(relates["event_id"])
    return None


class DirectRoomError(Exception):
    def __init__(self, user_id: str, answer: object) -> None:
        super().__init__(f"cannot open a direct room with {user_id}: {answer}")
        self.user_id = user_id


class RateLimited(Exception):
    """The homeserver asked us to wait `wait` seconds before trying again."""

    def __init__(self, what: str, wait: float) -> None:
        super().__init__(f"{what}: rate limited for {wait:.1f} s")
        self.wait = wait


def retry_after(answer: object) -> float | None:
    """Seconds to wait if `answer` is a rate-limit error, else None."""
    if getattr(answer, "status_code", None) not in ("M_LIMIT_EXCEEDED", 429):
        return None
    return float(getattr(answer, "retry_after_ms", None) or 1000) / 1000
