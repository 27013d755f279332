"""Durations as people write them: "5m", "1w", "2h30m"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "t": timedelta(hours=1),  # timme
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "v": timedelta(weeks=1),  # vecka
}
_PART = re.compile(r"(\d+)\s*(min|[smhtdwv])", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """Parse '5m', '24h', '1w', '2h30m' (Swedish 't' and 'v' too); ValueError otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration")
    total = timedelta()
    position = 0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or total <= timedelta():
        raise ValueError(f"not a duration: {text!r} (examples: 5m, 2h, 1w, 2h30m)")
    return total
