"""Who a widget's OpenID token (MSC1960) belongs to, asked of the homeserver that issued it: the configured one,
or one found by server discovery, never at a private or loopback address (the board must not be made to call
into the network it runs in)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Mapping

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)
_SERVER_NAME = re.compile(r"^(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$")
_USER_ID = re.compile(r"^@[a-z0-9._=/+-]+:(?P<server>.+)$")


class NotVerified(Exception):
    """The token proves nothing: why, in words for the log."""


def _public(host: str) -> None:
    """Refuse a host that is, or resolves to, a private, loopback, link-local or otherwise internal address."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None)
    except OSError as exc:
        raise NotVerified(f"cannot resolve {host}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise NotVerified(f"{host} resolves to an internal address ({address})")


async def discover(http: aiohttp.ClientSession, server_name: str) -> str:
    """The federation address of `server_name` (its `.well-known/matrix/server`, else port 8448), public only."""
    match = _SERVER_NAME.match(server_name)
    if match is None:
        raise NotVerified(f"not a server name: {server_name[:100]!r}")
    host, port = match.group("host"), match.group("port")
    await asyncio.to_thread(_public, host)
    if port is None:
        try:
            async with http.get(f"https://{host}/.well-known/matrix/server", timeout=TIMEOUT,
                                allow_redirects=False) as answer:
                delegated = (await answer.json(content_type=None)).get("m.server") if answer.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, AttributeError):
            delegated = None
        if isinstance(delegated, str) and (found := _SERVER_NAME.match(delegated)):
            host, port = found.group("host"), found.group("port")
            await asyncio.to_thread(_public, host)
    return f"https://{host}:{port or 8448}"


async def user_of(http: aiohttp.ClientSession, access_token: str, server_name: str,
                  configured: Mapping[str, str]) -> str:
    """The Matrix id the token belongs to; NotVerified when the homeserver does not vouch for it."""
    base = configured.get(server_name) or await discover(http, server_name)
    try:
        async with http.get(f"{base.rstrip('/')}/_matrix/federation/v1/openid/userinfo",
                            params={"access_token": access_token}, timeout=TIMEOUT, allow_redirects=False) as answer:
            body = await answer.json(content_type=None) if answer.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise NotVerified(f"{server_name} did not answer ({type(exc).__name__})") from exc
    user = body.get("sub") if isinstance(body, dict) else None
    if not isinstance(user, str):
        raise NotVerified(f"{server_name} does not know the token")
    found = _USER_ID.match(user)
    if found is None or found.group("server") != server_name:
        raise NotVerified(f"{server_name} vouched for {user[:100]!r}, who is not one of its users")
    return user
