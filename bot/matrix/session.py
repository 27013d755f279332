"""The bot's Matrix session: one nio client, a login that keeps one device for the bot's life,
cross-signing, and the upkeep of end-to-end encryption keys."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from nio import AsyncClient, AsyncClientConfig, KeysQueryResponse, LocalProtocolError, LoginResponse, WhoamiResponse
from nio.crypto import ENCRYPTION_ENABLED
from nio.store import DefaultStore
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import SECRET_ENV, Settings
from bot.domain import identity
from bot.matrix import crosssign
from bot.matrix.crosssign import CrossSigningError
from bot.state import identities, repo
from bot.state.db import Database
from bot.state.vault import GENERATED_KEY_FILE, STORE_KEY_ENV, Vault, VaultError, is_sealed

log = logging.getLogger(__name__)

MAX_INDEXES = 10_000  # message indexes kept for the sync to take; one sync holds far fewer events


@dataclass(frozen=True)
class Sessions:
    """What a key query shows of a person's sessions."""

    all_signed: bool  # every session with keys is cross-signed by its owner
    master_key: str | None


class LoginFailed(Exception):
    """The bot could not log in; the message says what to fix."""


class KeyStore(DefaultStore):  # type: ignore[misc]  # nio.store is untyped
    """nio's key store, less the write nio makes after every sync even when no room became encrypted:
    a transaction on the event loop, the largest share of the bot's CPU per command."""

    def save_encrypted_rooms(self, rooms: set[str]) -> None:
        if rooms:
            super().save_encrypted_rooms(rooms)


class Session:
    """Login, device and keys. Every other part of bot/matrix reaches the homeserver through `client`."""

    def __init__(self, settings: Settings, db: Database, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.db = db
        self.env = env
        self.user_id = settings.matrix.user_id
        wanted = settings.matrix.encryption
        self.encryption = ENCRYPTION_ENABLED if wanted is None else wanted
        store = settings.crypto_store()
        # A key store made before the bot sealed it was pickled with nio's default key: keep opening it.
        legacy = not env.get(STORE_KEY_ENV) and not (store / GENERATED_KEY_FILE).exists() and any(store.glob("*.db"))
        self.vault = Vault.for_store(store, env)
        self._querying = asyncio.Lock()
        self._cross_signed: dict[str, set[str]] = {}  # the devices each user has cross-signed, as last queried
        self._masters: dict[str, str | None] = {}  # each user's master key, from the same query
        # Users first looked up because an event of theirs came: their identity is not pinned ahead of time.
        self._asked_by_event: set[str] = set()
        self._withheld: set[str] = set()  # users whose identity changed unapproved: no room keys for them
        # The Megolm message index of each event nio decrypted, until the sync takes it (against replays).
        self.megolm_index: OrderedDict[str, int] = OrderedDict()
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
                store=KeyStore,
                pickle_key="DEFAULT_KEY" if legacy else self.vault.key,
            ),
        )
        if self.encryption and ENCRYPTION_ENABLED:
            store.mkdir(parents=True, exist_ok=True)

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
        self._watch_indexes()
        log.info("end-to-end encryption on; device %s, keys in %s", self.device_id, self.settings.crypto_store())
        if self.settings.matrix.cross_signing:
            if self.client.should_upload_keys:
                await self.client.keys_upload()  # the device's keys must be on the homeserver to be signed
            try:
                # A lost key store lost the cross-signing keys with it: the new device gets a new identity.
                await crosssign.sign_own_device(self, self.settings.crypto_store(), self.vault, self.env,
                                                replace=lost_store)
            except CrossSigningError as exc:
                raise LoginFailed(f"cross-signing: {exc}") from exc

    def _watch_indexes(self) -> None:
        """Note the message index nio reads from each Megolm message it decrypts (nio checks it against the
        ones it saw only in memory, so a copy of a ciphertext sent again after a restart decrypts anew; the
        sync keeps them in the database instead). The index comes from nio's own decryption."""
        olm = self.client.olm
        if olm is None:
            return
        check = olm.message_index_ok
        noted = self.megolm_index

        def message_index_ok(message_index: int, event: Any) -> bool:
            ok = bool(check(message_index, event))
            if ok and isinstance(getattr(event, "event_id", None), str):
                noted[event.event_id] = message_index
                while len(noted) > MAX_INDEXES:
                    noted.popitem(last=False)
            return ok

        olm.message_index_ok = message_index_ok

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
            stored = await repo.get_value(session, "access_token")
            device_id = await repo.get_value(session, "device_id")
        token = self._unseal(stored)
        if token and device_id:
            self.client.restore_login(self.user_id, device_id, token)
            answer = await self.client.whoami()
            if isinstance(answer, WhoamiResponse):
                log.info("logged in as %s, device %s (stored)", self.user_id, device_id)
                if stored is not None and not is_sealed(stored):  # kept in the clear by an earlier version
                    await self._store_login(token, device_id)
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

    def _unseal(self, stored: str | None) -> str | None:
        """The stored access token; a token stored before sealing is used (and sealed at the next login)."""
        if stored is None or not is_sealed(stored):
            return stored
        try:
            return self.vault.open(stored)
        except VaultError as exc:
            log.warning("the stored access token cannot be opened (%s); logging in again", exc)
            return None

    async def _store_login(self, token: str, device_id: str) -> None:
        async with self.db.session() as session:
            await repo.set_value(session, "access_token", self.vault.seal(token))
            await repo.set_value(session, "device_id", device_id)

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """A client-server API call nio has no method for: (HTTP status, JSON answer)."""
        answer = await self.client.send(method, f"/_matrix/client/v3{path}",
                                        None if body is None else json.dumps(body),
                                        headers={"Authorization": f"Bearer {self.client.access_token}",
                                                 "Content-Type": "application/json"})
        async with answer:
            data = await answer.json(content_type=None)
        return answer.status, data if isinstance(data, dict) else {}

    async def maintain_keys(self) -> None:
        """Upload the bot's keys, learn members' devices, open Olm sessions, send queued key shares."""
        client = self.client
        try:
            if client.should_upload_keys:
                await client.keys_upload()
            await self.query_keys()
            if self._withheld:  # an administrator may have approved a new identity since
                await self._share_with(sorted(self._withheld))
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except LocalProtocolError as exc:  # another task did it meanwhile
            log.debug("key maintenance: %s", exc)

    async def query_keys(self) -> None:
        """Learn the devices of the people nio now tracks, if any are new, and whom their owners signed;
        one query at a time (forty direct messages going out at once need one)."""
        async with self._querying:
            if self.client.should_query_keys:
                await self._query_keys()

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
        users = list(raw.get("device_keys", {}))
        for user_id in users:
            self._cross_signed[user_id] = crosssign.trusted_devices(raw, user_id)
            self._masters[user_id] = crosssign.only_key(raw.get("master_keys", {}).get(user_id))
        if self.settings.matrix.share_keys_with == "cross-signed":
            await self._share_with(users)

    async def _share_with(self, users: list[str]) -> None:
        """Room keys only for devices cross-signed by the identity the bot trusts for their owner: after an
        identity reset, not even the new identity's devices get one until an administrator approves it. A
        person the bot looks up for the first time before they wrote (at its start, or when it came to share an
        encrypted room with them) has their identity pinned ahead of time now: the key served, or that none
        was. One first looked up because their own event came is not: that identity waits for approval."""
        async with self.db.session() as session:
            pins = {user: await identities.get(session, user) for user in users}
        now = datetime.now(UTC)
        first = [identity.pin_ahead(user, self._masters.get(user)) for user, pin in pins.items()
                 if pin is None and user != self.user_id and user in self._masters
                 and user not in self._asked_by_event]
        for pin in first:
            pins[pin.user_id] = pin
        if first:
            async def pin_first(session: AsyncSession) -> None:
                for pin in first:
                    if await identities.get(session, pin.user_id) is None:  # not pinned meanwhile by an event
                        await identities.put(session, pin, now)
                        await repo.audit(session, at=now, user_id=pin.user_id, action="identity:pinned",
                                         detail={"key": pin.pinned or None})

            try:
                await self.db.write(pin_first)
            except Exception as exc:  # noqa: BLE001 - pinned at the same moment by a command: read next time
                log.info("first identities not pinned here (%s)", type(exc).__name__)
        for user_id in users:
            master = self._masters.get(user_id)
            if master is not None and user_id != self.user_id and not identity.trusted(pins[user_id], master):
                if user_id not in self._withheld:
                    log.warning("the identity of %s changed and is not approved: no room keys for their devices",
                                user_id)
                self._withheld.add(user_id)
                self._apply_trust(user_id, set())
            else:
                self._withheld.discard(user_id)
                self._apply_trust(user_id, self._cross_signed.get(user_id, set()))

    def _apply_trust(self, user_id: str, trusted: set[str]) -> None:
        """Room keys only for devices their owner has cross-signed: nio skips blacklisted devices."""
        client = self.client
        for device in client.device_store.active_user_devices(user_id):
            if device.id in trusted and device.blacklisted:
                client.unblacklist_device(device)
            elif device.id not in trusted and not device.blacklisted:
                log.info("device %s of %s is not cross-signed by its owner: no room keys for it", device.id, user_id)
                client.blacklist_device(device)  # nio starts a new room key in the rooms they share

    async def sender_cross_signed(self, user_id: str, sender_key: str | None) -> bool:
        """Whether the device that sent a decrypted event (known by its curve25519 key) is cross-signed by its
        owner. A user the bot has not looked up yet is looked up once; a device it still cannot find is not
        trusted (a new device is learned when the homeserver says the user's devices changed)."""
        if self.client.olm is None:
            return True

        def device_id() -> str | None:
            found = [d.id for d in self.client.device_store.active_user_devices(user_id) if d.curve25519 == sender_key]
            return found[0] if found else None

        device = device_id()
        # Asked again when the device is unknown or, as remembered, unsigned: it may have been signed since.
        if device is None or device not in self._cross_signed.get(user_id, set()):
            if user_id not in self._masters:
                self._asked_by_event.add(user_id)  # looked up for the first time because of their own event
            self.client.users_for_key_query.add(user_id)
            try:
                await self.query_keys()
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("cannot look up the devices of %s: %s", user_id, exc)
            device = device_id()
        return device is not None and device in self._cross_signed.get(user_id, set())

    def master_key(self, user_id: str) -> str | None:
        """The user's cross-signing master key as last queried (None without encryption, or if it has none)."""
        return self._masters.get(user_id) if self.client.olm is not None else None

    async def sessions_of(self, user_id: str) -> Sessions:
        """Every session of `user_id` the homeserver knows keys for, asked now rather than remembered: a
        session added a moment ago counts. A query that fails trusts nothing."""
        if self.client.olm is None:
            return Sessions(all_signed=True, master_key=None)
        try:
            status, raw = await self.api("POST", "/keys/query", {"device_keys": {user_id: []}})
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            log.warning("cannot look up the sessions of %s: %s", user_id, exc)
            return Sessions(all_signed=False, master_key=None)
        if status != 200:
            log.warning("cannot look up the sessions of %s: HTTP %s", user_id, status)
            return Sessions(all_signed=False, master_key=None)
        devices = set(raw.get("device_keys", {}).get(user_id, {}))
        signed = crosssign.trusted_devices(raw, user_id)
        return Sessions(all_signed=bool(devices) and devices <= signed,
                        master_key=crosssign.only_key(raw.get("master_keys", {}).get(user_id)))

    def device_trusted(self, user_id: str, device_id: str) -> bool:
        """False for a device the bot knows and does not trust (not cross-signed by its owner)."""
        if self.client.olm is None:
            return True
        device = self.client.device_store.active_user_devices(user_id)
        return not any(d.id == device_id and d.blacklisted for d in device)

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room is not None and room.encrypted and self.client.olm is not None)

    async def close(self) -> None:
        await self.client.close()


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
