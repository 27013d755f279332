"""Exactly once under SIGKILL, in every run of the suite: the bot convenes 20 holders while it is
killed three times at random moments; every holder gets one direct message and one room-ping
mention, counted in the homeserver's own database (tests/soak/crash_convocation.py, smaller)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "soak"))

from crash_convocation import exactly_once, run


async def test_three_kills_during_a_convocation_lose_nothing_and_repeat_nothing() -> None:
    result = await asyncio.to_thread(run, 20, 3, 11)
    assert exactly_once(result), result
    assert result["holders"] == 20 and result["kills"] == 3
