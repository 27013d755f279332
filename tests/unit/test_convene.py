"""Convocation messages that must fit Matrix's limits however large the forum."""

from __future__ import annotations

from bot.flows.convocation import MENTIONS_PER_MESSAGE, pings
from bot.messages import Message
from bot.texts.rich import Rich


def test_a_long_ping_is_split_and_every_holder_is_mentioned_once() -> None:
    users = [f"@holder{i}:example.org" for i in range(1000)]
    out = pings("!room:example.org", Rich().text("Kallelse"), users, "conv:1")
    assert len(out) == -(-1000 // MENTIONS_PER_MESSAGE)
    mentioned = [u for m in out if isinstance(m, Message) for u in m.mentions]
    assert mentioned == users
    assert all(isinstance(m, Message) and m.ping and len(m.html.encode()) < 40_000 for m in out)
    assert out[0].body.startswith("Kallelse")  # type: ignore[union-attr]
