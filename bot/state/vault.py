"""What the bot keeps at rest that would let someone act as the bot — its access token and its
cross-signing keys — and the personal data it holds (phone numbers) is sealed (PyNaCl's SecretBox, the
key stretched with Argon2id). A sealed number is found again by its lookup, a keyed BLAKE2b hash.

The key is SAMVERKAN_STORE_KEY from the environment. Without it the bot generates one and keeps it
beside its key store, and says loudly that a backup of that folder then holds the key too.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.secret
import nacl.utils

log = logging.getLogger(__name__)

STORE_KEY_ENV = "SAMVERKAN_STORE_KEY"
GENERATED_KEY_FILE = "store.key"
PREFIX = "sealed:v1:"


class VaultError(Exception):
    """A sealed value that this key does not open."""


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(text)
    temporary.replace(path)


class Vault:
    def __init__(self, key: str, source: str) -> None:
        self.key = key
        self.source = source  # where the key came from, for messages
        self._boxes: dict[bytes, nacl.secret.SecretBox] = {}

    @classmethod
    def for_store(cls, folder: Path, env: Mapping[str, str]) -> Vault:
        if env.get(STORE_KEY_ENV):
            return cls(env[STORE_KEY_ENV], STORE_KEY_ENV)
        path = folder / GENERATED_KEY_FILE
        if not path.exists():
            write_private(path, secrets.token_urlsafe(32))
        log.warning("%s is not set: the bot's token and keys are sealed with a key generated in %s, which every "
                    "backup of that folder holds too. Set %s (and keep it apart from the backups)",
                    STORE_KEY_ENV, path, STORE_KEY_ENV)
        return cls(path.read_text().strip(), str(path))

    def _box(self, salt: bytes) -> nacl.secret.SecretBox:
        if salt not in self._boxes:
            key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, self.key.encode(), salt,
                                           opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                                           memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)
            self._boxes[salt] = nacl.secret.SecretBox(key)
        return self._boxes[salt]

    def seal(self, plain: str) -> str:
        # One key derivation serves every value this vault seals (a random nonce each): a start that opens
        # the token and the cross-signing keys, sealed by the same run, derives once.
        salt = next(iter(self._boxes), None) or nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        box = self._box(salt).encrypt(plain.encode())
        return PREFIX + base64.b64encode(salt).decode() + ":" + base64.b64encode(box).decode()

    def lookup(self, plain: str) -> str:
        """A keyed hash of `plain`: the same for the same value under this key, and says nothing without it
        (a phone number is found by its lookup; the number itself stays sealed)."""
        key = nacl.hash.blake2b(self.key.encode(), digest_size=32, person=b"samverkan-look",
                                encoder=nacl.encoding.RawEncoder)
        return nacl.hash.blake2b(plain.encode(), key=key, digest_size=20).decode()

    def open(self, sealed: str) -> str:
        if not is_sealed(sealed):
            raise VaultError("not a sealed value")
        salt, _, box = sealed.removeprefix(PREFIX).partition(":")
        try:
            return self._box(base64.b64decode(salt)).decrypt(base64.b64decode(box)).decode()
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise VaultError(f"the key from {self.source} does not open it") from exc


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)
