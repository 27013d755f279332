"""The board's check budgets: links and tokens checked per minute, for each client address on its own, so a flood
from one address never refuses another, nor a member's token; the client address is the peer's, or behind a
configured proxy the one it forwards, and an X-Forwarded-For from anyone else is not believed."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from bot.board.server import BoardServer
from bot.board.sessions import Limits, Refused, Sessions
from bot.config import ConfigError, parse_settings

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def test_a_flood_of_bad_links_from_one_address_refuses_only_its_links() -> None:
    """The sixty-first link from one address in a minute is refused, and only the first refusal is to be logged;
    a token from the same address and a link from another are checked."""
    sessions = Sessions(Limits(checks_per_minute=60))
    for _ in range(60):
        sessions.check_allowed("link", "203.0.113.9", NOW)
    refusals = []
    for _ in range(3):
        with pytest.raises(Refused) as refused:
            sessions.check_allowed("link", "203.0.113.9", NOW)
        refusals.append((refused.value.limit, refused.value.subject, refused.value.first))
    assert refusals == [("link_checks_per_minute", "203.0.113.9", True),
                        ("link_checks_per_minute", "203.0.113.9", False),
                        ("link_checks_per_minute", "203.0.113.9", False)]
    sessions.check_allowed("token", "203.0.113.9", NOW)
    sessions.check_allowed("link", "198.51.100.7", NOW)
    for _ in range(60):  # a new minute
        sessions.check_allowed("link", "203.0.113.9", NOW + timedelta(minutes=1))
    with pytest.raises(Refused) as again:
        sessions.check_allowed("link", "203.0.113.9", NOW + timedelta(minutes=1))
    assert again.value.first, "let through in between: the next refusal is logged again"


def test_a_restart_where_every_board_comes_back_at_once_is_let_through() -> None:
    """Five hundred boards, each from its own address, ask for a session in the same second: none is refused, and
    the addresses are forgotten once their minute has passed."""
    sessions = Sessions(Limits(checks_per_minute=60))
    for number in range(500):
        sessions.check_allowed("token", f"10.0.{number // 250}.{number % 250}", NOW)
        sessions.check_allowed("link", f"10.1.{number // 250}.{number % 250}", NOW)
    sessions.check_allowed("link", "10.9.9.9", NOW + timedelta(minutes=2))
    assert len(sessions.checks["link"]._windows) == 1 and len(sessions.checks["token"]._windows) <= 500


def _server(*proxies: str) -> BoardServer:
    return BoardServer("127.0.0.1:0", None, {}, lambda key: key, lambda: NOW,  # type: ignore[arg-type]
                       trusted_proxies=proxies)


def _client(server: BoardServer, peer: str, forwarded: str | None = None) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return server.client(make_mocked_request("POST", "/board/api/session", headers=headers).clone(remote=peer))


def test_the_client_is_the_peer_unless_the_peer_is_a_configured_proxy() -> None:
    """X-Forwarded-For is ignored from anyone but a configured proxy; from one, the nearest address that is not a
    proxy counts; an IPv6 client counts by its /64, an IPv4 one inside IPv6 as itself."""
    plain = _server()
    assert _client(plain, "203.0.113.9", "198.51.100.7") == "203.0.113.9", "not configured: not believed"
    proxied = _server("127.0.0.1", "10.0.0.0/8")
    assert _client(proxied, "127.0.0.1", "198.51.100.7") == "198.51.100.7"
    assert _client(proxied, "127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3") == "198.51.100.7", \
        "what the client wrote itself before the proxies is not believed"
    assert _client(proxied, "203.0.113.9", "198.51.100.7") == "203.0.113.9", "from a stranger: not believed"
    assert _client(proxied, "127.0.0.1", "garbage") == "127.0.0.1"
    assert _client(proxied, "127.0.0.1") == "127.0.0.1"
    assert _client(plain, "2001:db8:1:2:3:4:5:6") == _client(plain, "2001:db8:1:2::9") == "2001:db8:1:2::/64"
    assert _client(plain, "::ffff:203.0.113.9") == "203.0.113.9"


def test_a_trusted_proxy_must_be_an_address_or_a_network() -> None:
    """`trusted_proxies` takes addresses and networks; anything else is an error with its place."""
    data = tomllib.loads((Path(__file__).parents[2] / "config" / "example.toml").read_text(encoding="utf-8"))
    data["board"] = {"public_url": "https://tavla.example.org", "trusted_proxies": ["10.0.0.0/8", "::1"]}
    assert parse_settings(data).board is not None
    data["board"]["trusted_proxies"] = ["10.0.0.0/8", "the proxy"]
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    assert any("trusted_proxies" in e and "'the proxy' is not an address" in e for e in caught.value.errors), \
        caught.value.errors
