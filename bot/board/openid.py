"""Who a widget's OpenID token (MSC1960) belongs to, asked of the homeserver that issued it: the configured one,
or one found by server discovery, never at a private or loopback address (the board must not be made to call
into the network it runs in). A discovered name is resolved once: the addresses checked are the ones connected
to (the name stays in the Host header and TLS), so a name that changes its answer in between (DNS rebinding)
cannot lead inward."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

TIMEOUT = aiohttp.ClientTimeout(total=10)
_SERVER_NAME = re.compile(r"^(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$")
_USER_ID = re.compile(r"^@[a-z0-9._=/+-]+:(?P<server>.+)$")


class NotVerified(Exception):
    """The token proves nothing: why, in words for the log."""


def internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, reserved: anything but the public internet."""
    return not address.is_global


def _public(host: str) -> list[str]:
    """The addresses of `host`, all public; NotVerified if any is internal (or none is found)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise NotVerified(f"cannot resolve {host}") from exc
    found: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if internal(address):
            raise NotVerified(f"{host} resolves to an internal address ({address})")
        if str(address) not in found:
            found.append(str(address))
    if not found:
        raise NotVerified(f"cannot resolve {host}")
    return found


class Pinned(AbstractResolver):
    """Answers only for the names already checked, with the addresses checked; any other name is refused."""

    def __init__(self) -> None:
        self.pins: dict[str, list[str]] = {}

    async def pin(self, host: str) -> None:
        self.pins[host.strip("[]")] = await asyncio.to_thread(_public, host)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = self.pins.get(host)
        if not addresses:
            raise OSError(f"{host} was not checked")
        return [ResolveResult(hostname=host, host=a, port=port, proto=0, flags=socket.AI_NUMERICHOST,
                              family=socket.AF_INET6 if ":" in a else socket.AF_INET) for a in addresses]

    async def close(self) -> None:
        return None


async def discover(http: aiohttp.ClientSession, server_name: str, pinned: Pinned | None = None) -> str:
    """The federation address of `server_name` (its `.well-known/matrix/server`, else port 8448), public only;
    every name looked at is pinned in `pinned` and `http` must connect through it."""
    match = _SERVER_NAME.match(server_name)
    if match is None:
        raise NotVerified(f"not a server name: {server_name[:100]!r}")
    pinned = pinned or Pinned()
    host, port = match.group("host"), match.group("port")
    await pinned.pin(host)
    if port is None:
        try:
            async with http.get(f"https://{host}/.well-known/matrix/server", timeout=TIMEOUT,
                                allow_redirects=False) as answer:
                delegated = (await answer.json(content_type=None)).get("m.server") if answer.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, AttributeError, RecursionError):
            delegated = None
        if isinstance(delegated, str) and (found := _SERVER_NAME.match(delegated)):
            host, port = found.group("host"), found.group("port")
            await pinned.pin(host)
    return f"https://{host}:{port or 8448}"


async def user_of(http: aiohttp.ClientSession, access_token: str, server_name: str,
                  configured: Mapping[str, str]) -> str:
    """The Matrix id the token belongs to; NotVerified when the homeserver does not vouch for it. The configured
    homeserver is asked through `http`; any other through a connection pinned to the addresses checked."""
    if server_name in configured:
        return await _ask(http, configured[server_name], access_token, server_name)
    pinned = Pinned()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=pinned, use_dns_cache=False)) as own:
        return await _ask(own, await discover(own, server_name, pinned), access_token, server_name)


async def _ask(http: aiohttp.ClientSession, base: str, access_token: str, server_name: str) -> str:
    try:
        async with http.get(f"{base.rstrip('/')}/_matrix/federation/v1/openid/userinfo",
                            params={"access_token": access_token}, timeout=TIMEOUT, allow_redirects=False) as answer:
            body = await answer.json(content_type=None) if answer.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError, RecursionError) as exc:
        raise NotVerified(f"{server_name} did not answer ({type(exc).__name__})") from exc
    user = body.get("sub") if isinstance(body, dict) else None
    if not isinstance(user, str):
        raise NotVerified(f"{server_name} does not know the token")
    found = _USER_ID.match(user)
    if found is None or found.group("server") != server_name:
        raise NotVerified(f"{server_name} vouched for {user[:100]!r}, who is not one of its users")
    return user
