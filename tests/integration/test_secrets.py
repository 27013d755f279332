"""What the bot keeps at rest holds no live credential in the clear: the access token is sealed, one
kept in the clear by an earlier version is sealed at the next start, and a restart still logs in."""

from __future__ import annotations

from support import World, command

from bot.state import repo
from bot.state.vault import GENERATED_KEY_FILE, is_sealed


async def stored_token(app: object) -> str | None:
    async with app.db.session() as session:  # type: ignore[attr-defined]
        return await repo.get_value(session, "access_token")


async def test_the_access_token_is_sealed_at_rest_and_a_clear_one_is_sealed_at_start(world: World) -> None:
    settings = world.settings()
    app = await world.start_bot(settings)
    token = app.matrix.client.access_token
    kept = await stored_token(app)
    assert kept is not None and is_sealed(kept) and token not in kept
    assert (settings.crypto_store() / GENERATED_KEY_FILE).stat().st_mode & 0o777 == 0o600
    async with app.db.session() as session:  # as an earlier version kept it
        await repo.set_value(session, "access_token", token)
    await world.stop_bots()

    app = await world.start_bot(settings)
    assert app.matrix.client.access_token == token, "the same login, not a new device"
    kept = await stored_token(app)
    assert kept is not None and is_sealed(kept) and token not in kept
    assert "Regionalt samordnande forum" in await command(world, "tib", "samordnande", "!status")
