"""Who sends commands faster than a person types: more than LIMIT in a minute is warned once, then ignored
for a minute. Pure: the times are given."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from enum import Enum

LIMIT = 20
WINDOW = timedelta(minutes=1)


class Verdict(Enum):
    OK = "ok"
    WARN = "warn"  # the command that went over the limit: one warning, and nothing else
    IGNORE = "ignore"  # within the minute after the warning: no answer at all


class Flood:
    def __init__(self, window: timedelta = WINDOW) -> None:
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}
        self._quiet_until: dict[str, datetime] = {}

    def check(self, sender: str, now: datetime, limit: int = LIMIT) -> Verdict:
        """Count a command from `sender` at `now`; more than `limit` in the window is a flood."""
        until = self._quiet_until.get(sender)
        if until is not None:
            if now < until:
                return Verdict.IGNORE
            del self._quiet_until[sender]
        seen = self._seen.setdefault(sender, deque())
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        seen.append(now)
        if len(seen) <= limit:
            return Verdict.OK
        seen.clear()
        self._quiet_until[sender] = now + self.window
        return Verdict.WARN
