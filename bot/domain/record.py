"""The record of an event, for the registry (diariet) and the evaluation: how fast each convened
function acknowledged, and who was never reached."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Summoned:
    """One function convened once: when, and when (if ever) it acknowledged."""

    function_id: str
    convened_at: datetime
    ack_at: datetime | None


@dataclass(frozen=True)
class AckFigures:
    convened: int  # summonses
    acknowledged: int
    median: timedelta | None  # time to acknowledge
    worst: timedelta | None
    never: tuple[str, ...]  # functions convened that acknowledged no summons at all, in the order convened


def ack_figures(summoned: Sequence[Summoned]) -> AckFigures:
    # Answered before the phones rang (a conference planned quietly, acknowledged from its notice): no wait.
    times = [max(s.ack_at - s.convened_at, timedelta(0)) for s in summoned if s.ack_at is not None]
    reached = {s.function_id for s in summoned if s.ack_at is not None}
    never = tuple(dict.fromkeys(s.function_id for s in summoned if s.function_id not in reached))
    median = timedelta(seconds=statistics.median(t.total_seconds() for t in times)) if times else None
    return AckFigures(len(summoned), len(times), median, max(times) if times else None, never)


def duration(span: timedelta) -> str:
    """'45 s', '3 min 20 s', '2 h 5 min': as a person reads it in a report."""
    seconds = round(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
