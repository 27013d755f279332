"""The bot's cross-signing on the real homeserver: set up once, kept across restarts, and a clear
start-up error (with nothing changed on the account) when the keys are not the bot's or the
password is wrong."""

from __future__ import annotations

import shutil
from typing import Any

import aiohttp
import pytest
from support import World

from bot.app import App
from bot.config import Settings
from bot.matrix import crosssign
from bot.matrix.session import LoginFailed


def encrypted(data: dict[str, Any]) -> None:
    data["matrix"]["encryption"] = True


async def account_keys(world: World) -> dict[str, Any]:
    """The bot account's keys as anyone's client sees them."""
    async with aiohttp.ClientSession() as http, http.post(
            f"{world.hs.url}/_matrix/client/v3/keys/query", json={"device_keys": {world.bot.user_id: []}},
            headers={"Authorization": f"Bearer {world.people['tib'].access_token}"}) as answer:
        body: dict[str, Any] = await answer.json()
    return body


def master_of(keys: dict[str, Any], world: World) -> str | None:
    return crosssign.only_key(keys.get("master_keys", {}).get(world.bot.user_id))


async def start(world: World, settings: Settings, **env: str) -> App:
    app = App(settings, env={"SAMVERKAN_PASSWORD": world.bot.password, **env})
    try:
        await app.start()
    except BaseException:
        await app.stop()
        raise
    await app.wait_ready()
    world.apps.append(app)
    return app


async def test_set_up_once_kept_across_a_restart_and_refused_without_the_keys(world: World) -> None:
    settings = world.settings(encrypted)
    app = await start(world, settings)
    device = app.matrix.device_id
    keys = await account_keys(world)
    master = master_of(keys, world)
    assert master is not None
    assert crosssign.trusted_devices(keys, world.bot.user_id) == {device}, "the bot's device, signed by its owner"
    await world.stop_bots()

    app = await start(world, settings)
    assert app.matrix.device_id == device, "one device for the bot's life"
    keys = await account_keys(world)
    assert master_of(keys, world) == master, "a restart does not upload new keys"
    assert crosssign.trusted_devices(keys, world.bot.user_id) == {device}
    await world.stop_bots()

    key_file = settings.crypto_store() / crosssign.KEY_FILE
    key_file.unlink()
    with pytest.raises(LoginFailed, match=f"does not hold.*{crosssign.RESET_ENV}=1.*{crosssign.SELF_SIGNING_ENV}"):
        await start(world, settings)
    with pytest.raises(LoginFailed, match="refused SAMVERKAN_PASSWORD"):
        await start(world, settings, SAMVERKAN_PASSWORD="fel lösenord", **{crosssign.RESET_ENV: "1"})
    assert master_of(await account_keys(world), world) == master, "a refused reset changes nothing"

    app = await start(world, settings, **{crosssign.RESET_ENV: "1"})
    keys = await account_keys(world)
    reset = master_of(keys, world)
    assert reset not in (None, master), "reset: the bot's own new identity"
    assert crosssign.trusted_devices(keys, world.bot.user_id) == {app.matrix.device_id}
    await world.stop_bots()

    shutil.rmtree(settings.crypto_store())  # a restore without crypto/: a new device, signed again
    app = await start(world, settings)
    assert app.matrix.device_id != device
    keys = await account_keys(world)
    assert master_of(keys, world) not in (None, master, reset)
    assert app.matrix.device_id in crosssign.trusted_devices(keys, world.bot.user_id)
