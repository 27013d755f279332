"""The board asks a homeserver it discovers only at a public address: a server name that is, or resolves to, a
loopback, private or link-local address is refused before any request is made."""

from __future__ import annotations

import aiohttp
import pytest

from bot.board.openid import NotVerified, discover, user_of


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1:8448", "10.1.2.3", "192.168.0.10:443",
                                         "169.254.169.254", "[::1]:8448", "not a name/with/path", "x" * 300])
async def test_an_internal_or_malformed_server_name_is_never_asked(server_name: str) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(NotVerified):
            await discover(http, server_name)
        with pytest.raises(NotVerified):
            await user_of(http, "token", server_name, {})
