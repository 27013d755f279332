"""Which of the outbox's two lanes a new message wakes: an answer must not set the lane of direct
messages reading the database for nothing, and a direct message must not be left waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from bot.domain.clock import FakeClock
from bot.matrix.outbox import OutboxSender
from bot.messages import PRIORITY_ANSWER, PRIORITY_DIRECT, PRIORITY_PING, PRIORITY_REPLY


def woken(priorities: set[int] | None) -> list[bool]:
    outbox = OutboxSender(cast(Any, None), cast(Any, None), FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC)))
    outbox.notify(priorities)
    return [wake.is_set() for wake in outbox._wakes]


def test_each_message_wakes_the_lane_that_delivers_it_and_only_that() -> None:
    assert woken({PRIORITY_ANSWER}) == [True, False]
    assert woken({PRIORITY_PING}) == [True, False]
    assert woken({PRIORITY_DIRECT}) == [False, True]
    assert woken({PRIORITY_REPLY, 6}) == [False, True]
    assert woken({PRIORITY_PING, PRIORITY_DIRECT}) == [True, True]
    assert woken(set()) == [False, False]
    assert woken(None) == [True, True], "not said: every lane looks"
