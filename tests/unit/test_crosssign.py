"""Cross-signing rules without a homeserver: which devices are trusted, how keys are kept, and what
the bot says when the homeserver will not take its keys. The homeserver flows run in
tests/integration/test_element_phone.py and test_cross_signing.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from signedjson.sign import sign_json

from bot.matrix import crosssign
from bot.matrix.crosssign import CrossSigningError, Identity, KeyFile, key_object, trusted_devices, upload_body
from bot.state.vault import GENERATED_KEY_FILE, Vault

USER = "@anna:example.org"


def device(device_id: str) -> dict[str, Any]:
    return {"user_id": USER, "device_id": device_id, "algorithms": ["m.megolm.v1.aes-sha2"],
            "keys": {f"ed25519:{device_id}": "x", f"curve25519:{device_id}": "y"}}


def query(identity: Identity, devices: dict[str, dict[str, Any]]) -> dict[str, Any]:
    body = upload_body(USER, identity)
    return {"device_keys": {USER: devices}, "master_keys": {USER: body["master_key"]},
            "self_signing_keys": {USER: body["self_signing_key"]}}


def signed(identity: Identity, device_id: str) -> dict[str, Any]:
    return crosssign.device_signature(USER, device(device_id), identity)[USER][device_id]


def test_only_devices_signed_by_the_owners_self_signing_key_are_trusted() -> None:
    """Signed by the self-signing key: trusted; unsigned, or signed by a stranger's key: not."""
    anna, stranger = Identity.generate(), Identity.generate()
    answer = query(anna, {"PHONE": signed(anna, "PHONE"), "OLD": device("OLD"),
                          "FORGED": signed(stranger, "FORGED")})
    assert trusted_devices(answer, USER) == {"PHONE"}


def test_a_self_signing_key_the_master_key_did_not_sign_trusts_nothing() -> None:
    anna = Identity.generate()
    answer = query(anna, {"PHONE": signed(anna, "PHONE")})
    assert anna.master is not None
    answer["self_signing_keys"][USER] = key_object(USER, "self_signing", anna.self_signing, SigningKey.generate())
    assert trusted_devices(answer, USER) == set()
    del answer["master_keys"][USER]
    assert trusted_devices(answer, USER) == set()


def test_a_tampered_device_is_not_trusted() -> None:
    anna = Identity.generate()
    phone = signed(anna, "PHONE")
    phone["keys"]["curve25519:PHONE"] = "swapped"
    assert trusted_devices(query(anna, {"PHONE": phone}), USER) == set()


@pytest.mark.parametrize("env", [{}, {"SAMVERKAN_STORE_KEY": "ett långt hemligt lösenord"}])
def test_the_key_file_keeps_the_identity_sealed(tmp_path: Path, env: dict[str, str]) -> None:
    """Sealed with SAMVERKAN_STORE_KEY, or without it with a key generated beside the store (mode 0600)."""
    identity = Identity.generate()
    KeyFile(tmp_path, Vault.for_store(tmp_path, env)).save(USER, identity)
    stored = (tmp_path / crosssign.KEY_FILE).read_text()
    assert (tmp_path / crosssign.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert identity.seeds()["self_signing"] not in stored, "no private key in the clear"
    assert (tmp_path / GENERATED_KEY_FILE).exists() is (not env)
    loaded = KeyFile(tmp_path, Vault.for_store(tmp_path, env)).load(USER)
    assert loaded is not None and loaded.seeds() == identity.seeds()
    assert KeyFile(tmp_path, Vault.for_store(tmp_path, env)).load("@someone-else:example.org") is None


def test_a_sealed_key_file_needs_the_right_store_key(tmp_path: Path) -> None:
    KeyFile(tmp_path, Vault("rätt", "test")).save(USER, Identity.generate())
    with pytest.raises(CrossSigningError, match="does not open it; give the SAMVERKAN_STORE_KEY"):
        KeyFile(tmp_path, Vault("fel", "test")).load(USER)


class FakeHomeserver:
    """Answers the cross-signing calls as told, and records what was asked (pure logic: no network)."""

    def __init__(self, upload_answers: list[tuple[int, dict[str, Any]]]) -> None:
        self.user_id, self._device_id = USER, "BOT"
        self.upload_answers = upload_answers
        self.calls: list[tuple[str, Any]] = []

    @property
    def device_id(self) -> str:
        return self._device_id

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        self.calls.append((path, json.loads(json.dumps(body))))
        if path == "/keys/query":
            return 200, {"device_keys": {USER: {"BOT": device("BOT")}}}
        if path == "/keys/device_signing/upload":
            return self.upload_answers.pop(0)
        return 200, {"failures": {}}


async def test_a_homeserver_without_cross_signing_gets_a_sentence_and_nothing_is_signed(tmp_path: Path) -> None:
    hs = FakeHomeserver([(404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"})])
    with pytest.raises(CrossSigningError, match=r"does not support cross-signing.*cross_signing = false"):
        await crosssign.sign_own_device(hs, tmp_path, Vault("k", "test"), {})
    assert [path for path, _ in hs.calls] == ["/keys/query", "/keys/device_signing/upload"]


async def test_the_password_is_sent_only_when_asked_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    asks = (401, {"flows": [{"stages": ["m.login.password"]}], "session": "s1"})
    hs = FakeHomeserver([asks, (401, {"errcode": "M_FORBIDDEN", "error": "Invalid password"})])
    with pytest.raises(CrossSigningError, match=r"refused SAMVERKAN_PASSWORD.*nothing was changed"):
        await crosssign.sign_own_device(hs, tmp_path, Vault("k", "test"), {"SAMVERKAN_PASSWORD": "fel"})
    first, second = hs.calls[1][1], hs.calls[2][1]
    assert "auth" not in first
    assert second["auth"] == {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": USER},
                              "password": "fel", "session": "s1"}
    assert first["master_key"] == {k: v for k, v in second.items() if k != "auth"}["master_key"], "the same keys"
    assert not any(path == "/keys/signatures/upload" for path, _ in hs.calls)

    hs = FakeHomeserver([asks])
    with pytest.raises(CrossSigningError, match="set SAMVERKAN_PASSWORD"):
        await crosssign.sign_own_device(hs, tmp_path, Vault("k", "test"), {})


async def test_a_new_identity_is_uploaded_whole_then_the_device_is_signed(tmp_path: Path) -> None:
    hs = FakeHomeserver([(200, {})])
    await crosssign.sign_own_device(hs, tmp_path, Vault("k", "test"), {})
    paths = [path for path, _ in hs.calls]
    assert paths == ["/keys/query", "/keys/device_signing/upload", "/keys/signatures/upload"]
    uploaded = hs.calls[1][1]
    assert set(uploaded) == {"master_key", "self_signing_key", "user_signing_key"}
    held = KeyFile(tmp_path, Vault("k", "test")).load(USER)
    assert held is not None and held.master is not None
    master = crosssign.public(held.master)
    assert crosssign.signed_by(uploaded["self_signing_key"], USER, master)
    assert crosssign.signed_by(uploaded["user_signing_key"], USER, master)
    signature = hs.calls[2][1][USER]["BOT"]
    assert crosssign.signed_by(signature, USER, crosssign.public(held.self_signing))


def test_signatures_are_matrix_signed_json() -> None:
    """What the bot signs verifies like any Matrix signature (canonical JSON, unpadded base64)."""
    identity = Identity.generate()
    obj = signed(identity, "PHONE")
    again = sign_json(dict(device("PHONE")), USER, crosssign._named(identity.self_signing))
    assert obj["signatures"] == again["signatures"]
