"""Time as a dependency: the bot asks a clock, tests move a fake one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def watch(self, moved: Callable[[], None]) -> None:
        """Call `moved` whenever the clock jumps (a clock that moves by itself never does), so that the
        loops waiting on it wake and look again."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def watch(self, moved: Callable[[], None]) -> None:
        pass


class _Jumps:
    """The clocks that jump when told to, and tell who waits on them."""

    def __init__(self) -> None:
        self._watchers: list[Callable[[], None]] = []

    def watch(self, moved: Callable[[], None]) -> None:
        self._watchers.append(moved)

    def _moved(self) -> None:
        for moved in self._watchers:
            moved()


class FakeClock(_Jumps):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta
        self._moved()

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)
        self._moved()


class OffsetClock(_Jumps):
    """The system clock, moved ahead on request: the demo shows an escalation without waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        """`start`, when given, is the instant the clock reads now; it runs on from there."""
        super().__init__()
        self.offset = timedelta() if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
        self._moved()
