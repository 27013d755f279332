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


async def test_the_address_checked_is_the_address_connected_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that answers a public address when checked and an inner one afterwards (DNS rebinding) is looked
    up once, and the board connects to the address it checked: the inner service is never reached."""
    import asyncio
    import socket

    from bot.board import openid

    reached = {"127.0.0.2": 0, "127.0.0.1": 0}

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached[writer.get_extra_info("sockname")[0]] += 1
        writer.close()

    outer = await asyncio.start_server(count, "127.0.0.2", 0)
    port = outer.sockets[0].getsockname()[1]
    inner = await asyncio.start_server(count, "127.0.0.1", port)
    asked: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host != "rebind.test":
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        asked.append(host)
        address = "127.0.0.2" if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    # In this test 127.0.0.2 stands for a public address; 127.0.0.1 stays internal.
    monkeypatch.setattr(openid, "internal", lambda address: str(address) == "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(NotVerified):  # the outer address speaks no TLS: nothing is vouched for
                await user_of(http, "token", f"rebind.test:{port}", {})
        assert reached == {"127.0.0.2": 1, "127.0.0.1": 0}, "connected to the address checked, never the inner one"
        assert asked == ["rebind.test"], "the name is resolved once"
    finally:
        outer.close()
        inner.close()
