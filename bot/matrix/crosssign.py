"""Cross-signing: the bot's own identity, and which devices of other people it trusts.

Element (Web, Desktop, X) shares room keys only with devices their owner has cross-signed, and
shows messages from other devices as undecryptable. So the bot sets up cross-signing for its own
account once (master, self-signing and user-signing keys, uploaded through user-interactive auth)
and signs its device with its self-signing key. It applies the same rule itself: a room key goes
only to devices cross-signed by their owner (`[matrix] share_keys_with = "cross-signed"`).

Signing and verifying are signedjson's (canonical JSON and ed25519 through PyNaCl); the private
keys are sealed by the vault (bot/state/vault.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import signedjson.types
from nacl.signing import SigningKey
from signedjson.key import decode_signing_key_base64, decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from unpaddedbase64 import decode_base64, encode_base64

from bot.state.vault import STORE_KEY_ENV, Vault, VaultError, write_private

log = logging.getLogger(__name__)

KEY_FILE = "cross-signing.json"
RESET_ENV = "SAMVERKAN_RESET_CROSS_SIGNING"  # "1": replace keys the bot does not hold with its own
SELF_SIGNING_ENV = "SAMVERKAN_SELF_SIGNING_KEY"  # the account's self-signing private key, unpadded base64
USAGES = ("master", "self_signing", "user_signing")


class CrossSigningError(Exception):
    """Cross-signing cannot be set up; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    """The bot's private cross-signing keys. Only the self-signing key is needed to sign a device;
    an identity handed over by an operator may hold nothing else."""

    self_signing: SigningKey
    master: SigningKey | None = None
    user_signing: SigningKey | None = None

    @classmethod
    def generate(cls) -> Identity:
        return cls(master=SigningKey.generate(), self_signing=SigningKey.generate(),
                   user_signing=SigningKey.generate())

    def seeds(self) -> dict[str, str]:
        keys = {"master": self.master, "self_signing": self.self_signing, "user_signing": self.user_signing}
        return {usage: encode_base64(key.encode()) for usage, key in keys.items() if key is not None}

    @classmethod
    def from_seeds(cls, seeds: Mapping[str, str]) -> Identity:
        def key(usage: str) -> SigningKey | None:
            return SigningKey(decode_base64(seeds[usage])) if usage in seeds else None

        self_signing = key("self_signing")
        if self_signing is None:
            raise ValueError("no self-signing key")
        return cls(self_signing=self_signing, master=key("master"), user_signing=key("user_signing"))


def public(key: SigningKey) -> str:
    return encode_base64(key.verify_key.encode())


def _named(key: SigningKey) -> signedjson.types.SigningKey:
    """signedjson names a signature `alg:version`; cross-signing keys are named by their public key."""
    return decode_signing_key_base64("ed25519", public(key), encode_base64(key.encode()))


def key_object(user_id: str, usage: str, key: SigningKey, signer: SigningKey | None) -> dict[str, Any]:
    """The public cross-signing key as the homeserver stores it, signed by the master key if given."""
    body: dict[str, Any] = {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{public(key)}": public(key)}}
    return sign_json(body, user_id, _named(signer)) if signer is not None else body


def signed_by(obj: Mapping[str, Any], user_id: str, signer_public: str) -> bool:
    """Whether `obj` carries a valid signature of `user_id`'s key `signer_public`."""
    if f"ed25519:{signer_public}" not in obj.get("signatures", {}).get(user_id, {}):
        return False
    try:
        verify_key = decode_verify_key_bytes(f"ed25519:{signer_public}", decode_base64(signer_public))
        verify_signed_json(dict(obj), user_id, verify_key)
    except (SignatureVerifyException, ValueError, TypeError):
        return False
    return True


def only_key(obj: Mapping[str, Any] | None) -> str | None:
    """The public key of a cross-signing key object."""
    keys = list((obj or {}).get("keys", {}).values())
    return str(keys[0]) if len(keys) == 1 else None


def trusted_devices(query: Mapping[str, Any], user_id: str) -> set[str]:
    """The devices of `user_id` its owner has cross-signed, from a /keys/query answer: the device is
    signed by the self-signing key, which is signed by the master key."""
    master = only_key(query.get("master_keys", {}).get(user_id))
    self_signing_object = query.get("self_signing_keys", {}).get(user_id)
    self_signing = only_key(self_signing_object)
    if master is None or self_signing is None or not signed_by(self_signing_object, user_id, master):
        return set()
    devices = query.get("device_keys", {}).get(user_id, {})
    return {device_id for device_id, keys in devices.items()
            if isinstance(keys, dict) and signed_by(keys, user_id, self_signing)}


class KeyFile:
    """The private keys in the key store folder, sealed by the vault."""

    def __init__(self, folder: Path, vault: Vault) -> None:
        self.path = folder / KEY_FILE
        self.vault = vault

    def load(self, user_id: str) -> Identity | None:
        if not self.path.exists():
            return None
        stored = json.loads(self.path.read_text())
        if stored.get("user_id") != user_id:
            return None
        try:
            return Identity.from_seeds(json.loads(self.vault.open(stored["sealed"])))
        except VaultError as exc:
            raise CrossSigningError(f"{self.path}: {exc}; give the {STORE_KEY_ENV} it was sealed with") from exc

    def save(self, user_id: str, identity: Identity) -> None:
        sealed = self.vault.seal(json.dumps(identity.seeds()))
        write_private(self.path, json.dumps({"user_id": user_id, "sealed": sealed}))


def device_signature(user_id: str, device_keys: Mapping[str, Any], identity: Identity) -> dict[str, Any]:
    """The body of /keys/signatures/upload that signs one device with the self-signing key."""
    clean = {k: v for k, v in device_keys.items() if k not in ("signatures", "unsigned")}
    signed = sign_json(clean, user_id, _named(identity.self_signing))
    return {user_id: {str(device_keys["device_id"]): signed}}


def upload_body(user_id: str, identity: Identity) -> dict[str, Any]:
    """The body of /keys/device_signing/upload for a whole new identity."""
    assert identity.master is not None and identity.user_signing is not None
    return {
        "master_key": key_object(user_id, "master", identity.master, None),
        "self_signing_key": key_object(user_id, "self_signing", identity.self_signing, identity.master),
        "user_signing_key": key_object(user_id, "user_signing", identity.user_signing, identity.master),
    }


class Api(Protocol):
    """The part of the Matrix adapter cross-signing needs."""

    user_id: str

    @property
    def device_id(self) -> str: ...

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]: ...


def _refusal(status: int, answer: Mapping[str, Any]) -> str:
    return f"HTTP {status} {answer.get('errcode', '')}: {answer.get('error', '')}".strip()


async def sign_own_device(matrix: Api, folder: Path, vault: Vault, env: Mapping[str, str], *,
                          replace: bool = False) -> None:
    """Make sure the account has the bot's cross-signing identity and the device is signed by it.

    Idempotent: a restart with the same device finds it signed and changes nothing. `replace`
    allows a new identity when the account has one the bot does not hold (its store was lost).
    """
    user_id, device_id = matrix.user_id, matrix.device_id
    key_file = KeyFile(folder, vault)
    status, query = await matrix.api("POST", "/keys/query", {"device_keys": {user_id: [device_id]}})
    if status != 200:
        raise CrossSigningError(f"cannot read the account's keys ({_refusal(status, query)})")
    identity = await _identity(matrix, key_file, query, env, replace=replace)
    device = query.get("device_keys", {}).get(user_id, {}).get(device_id)
    if not isinstance(device, dict):
        raise CrossSigningError(f"the homeserver has no keys for device {device_id}; start the bot again")
    if signed_by(device, user_id, public(identity.self_signing)):
        log.info("device %s is cross-signed", device_id)
        return
    status, answer = await matrix.api("POST", "/keys/signatures/upload", device_signature(user_id, device, identity))
    failures = answer.get("failures") or {}
    if status != 200 or failures:
        raise CrossSigningError(f"the homeserver refused the device's signature ({_refusal(status, answer)} "
                                f"{json.dumps(failures)[:300]})")
    log.info("device %s signed with the account's self-signing key", device_id)


async def _identity(matrix: Api, key_file: KeyFile, query: Mapping[str, Any], env: Mapping[str, str], *,
                    replace: bool) -> Identity:
    """The identity to sign with: the one the bot holds, a new one, or one an operator handed over."""
    user_id = matrix.user_id
    on_server = only_key(query.get("master_keys", {}).get(user_id))
    server_self_signing = only_key(query.get("self_signing_keys", {}).get(user_id))
    held = key_file.load(user_id)
    if on_server is not None and held is not None and public(held.self_signing) == server_self_signing:
        return held
    if on_server is None or replace or env.get(RESET_ENV) == "1":
        if on_server is not None:
            log.warning("replacing the account's cross-signing keys (%s); people who verified the bot will be "
                        "asked to verify it again", "the key store was lost" if replace else f"{RESET_ENV}=1")
        fresh = held if on_server is None and held is not None and held.master is not None else Identity.generate()
        key_file.save(user_id, fresh)  # kept before the upload, so an upload that succeeds is never lost
        await _upload(matrix, fresh, env)
        log.info("cross-signing set up for %s (master key %s)", user_id, public(fresh.master or fresh.self_signing))
        return fresh
    handed = env.get(SELF_SIGNING_ENV)
    if handed:
        try:
            identity = Identity.from_seeds({"self_signing": handed.strip()})
        except (ValueError, TypeError) as exc:
            raise CrossSigningError(f"{SELF_SIGNING_ENV} is not an unpadded base64 ed25519 private key") from exc
        if public(identity.self_signing) != server_self_signing:
            raise CrossSigningError(f"{SELF_SIGNING_ENV} is not this account's self-signing key")
        key_file.save(user_id, identity)
        return identity
    raise CrossSigningError(
        f"{user_id} already has cross-signing keys that the bot does not hold (set up in another client, or "
        f"{key_file.path} was lost). Either set {RESET_ENV}=1 once, with SAMVERKAN_PASSWORD, to replace them "
        f"with the bot's own, or give the account's self-signing key in {SELF_SIGNING_ENV}; "
        "or set [matrix] cross_signing = false (Element will not trust the bot)")


async def _upload(matrix: Api, identity: Identity, env: Mapping[str, str]) -> None:
    """Upload a whole identity in one request, with the password if the homeserver asks for it."""
    body = upload_body(matrix.user_id, identity)
    status, answer = await matrix.api("POST", "/keys/device_signing/upload", body)
    if status == 401 and "flows" in answer:
        password = env.get("SAMVERKAN_PASSWORD")
        flows = [stage for flow in answer.get("flows", []) for stage in flow.get("stages", [])]
        if not password:
            raise CrossSigningError("the homeserver asks for the password to upload cross-signing keys: "
                                    "set SAMVERKAN_PASSWORD")
        if "m.login.password" not in flows:
            raise CrossSigningError(f"the homeserver does not accept a password for this ({flows}); set up "
                                    f"cross-signing in Element and give the self-signing key in {SELF_SIGNING_ENV}")
        body["auth"] = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": matrix.user_id},
                        "password": password, "session": answer.get("session")}
        status, answer = await matrix.api("POST", "/keys/device_signing/upload", body)
        if status in (401, 403):
            raise CrossSigningError(f"the homeserver refused SAMVERKAN_PASSWORD for the cross-signing upload "
                                    f"({_refusal(status, answer)}); nothing was changed")
    if status in (404, 405) or answer.get("errcode") == "M_UNRECOGNIZED":
        raise CrossSigningError("the homeserver does not support cross-signing; set [matrix] cross_signing = false "
                                "(Element's 'exclude insecure devices' mode will not trust the bot)")
    if status != 200:
        raise CrossSigningError(f"the homeserver refused the cross-signing keys ({_refusal(status, answer)})")
