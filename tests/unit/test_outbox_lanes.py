"""Which of the outbox's two lanes a new message wakes: an answer must not set the lane of direct
messages reading the database for nothing, and a direct message must not be left waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from bot.domain.clock import FakeClock
from bot.matrix.outbox import OutboxSender
from bot.messages import PRIORITY_ANSWER, PRIORITY_DIRECT, PRIORITY_PING, PRIORITY_REPLY
from bot.state.models import OutboxMessage

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def woken(priorities: set[int] | None) -> list[bool]:
    """The lanes woken by rows at these priorities handed over (None: told of messages, not handed them)."""
    outbox = OutboxSender(cast(Any, None), cast(Any, None), FakeClock(NOW))
    if priorities is None:
        outbox.notify()
    else:
        outbox.hand([OutboxMessage(txn_id="", target="!room:test", priority=p, created_at=NOW, not_before=NOW,
                                   content="") for p in priorities])
    return [wake.is_set() for wake in outbox._wakes]


def test_each_message_wakes_the_lane_that_delivers_it_and_only_that() -> None:
    assert woken({PRIORITY_ANSWER}) == [True, False]
    assert woken({PRIORITY_PING}) == [True, False]
    assert woken({PRIORITY_DIRECT}) == [False, True]
    assert woken({PRIORITY_REPLY, 6}) == [False, True]
    assert woken({PRIORITY_PING, PRIORITY_DIRECT}) == [True, True]
    assert woken(set()) == [False, False]
    assert woken(None) == [True, True], "not said: every lane looks"
