"""The vault that seals the bot's token and cross-signing keys at rest."""

from __future__ import annotations

import nacl.pwhash
import pytest

from bot.state.vault import Vault, VaultError


def counting(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The salts each key derivation (Argon2id, the slow part of a start) was made for."""
    salts: list[bytes] = []
    derive = nacl.pwhash.argon2id.kdf

    def kdf(size: int, password: bytes, salt: bytes, **limits: int) -> bytes:
        salts.append(salt)
        return derive(size, password, salt, **limits)

    monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", kdf)
    return salts


def test_values_sealed_by_one_run_open_with_one_key_derivation(monkeypatch: pytest.MonkeyPatch) -> None:
    salts = counting(monkeypatch)
    Vault("nyckel", "test").seal("a")
    Vault("nyckel", "test").seal("b")
    assert len(salts) == 2, "two vaults, two derivations"
    sealer = Vault("nyckel", "test")
    token, keys = sealer.seal("syt_token"), sealer.seal('{"master": "…"}')
    assert token != keys and len(salts) == 3, "one vault seals both with one derivation"

    salts.clear()
    opener = Vault("nyckel", "test")
    assert (opener.open(token), opener.open(keys)) == ("syt_token", '{"master": "…"}')
    assert len(salts) == 1, "a start opens both with one derivation"
    with pytest.raises(VaultError, match="does not open it"):
        Vault("fel nyckel", "test").open(token)


def test_a_lookup_finds_the_same_number_under_the_same_key_and_says_nothing_without_it() -> None:
    number = "+46701740601"
    lookup = Vault("the key", "test").lookup(number)
    assert lookup == Vault("the key", "elsewhere").lookup(number)
    assert lookup != Vault("another key", "test").lookup(number)
    assert lookup != Vault("the key", "test").lookup("+46701740602")
    assert "0601" not in lookup and len(lookup) == 40
