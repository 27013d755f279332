"""Meeting occurrences from RRULEs, computed in local wall-clock time.

A weekly Thursday 10:00 meeting stays at 10:00 local time across the DST switch, because
the rule is expanded on naive local times and only then placed in the time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from bot.domain.model import Meeting


def occurrences(meeting: Meeting, after: datetime, tz: ZoneInfo, count: int = 1) -> list[datetime]:
    """The next `count` starts of `meeting` strictly after `after`, as UTC instants."""
    local_after = after.astimezone(tz).replace(tzinfo=None)
    if meeting.start is not None:
        anchor = meeting.start.replace(tzinfo=None)
    else:
        # Anchor the rule a little before `after`, on a whole minute, so BY* parts decide the time.
        anchor = (local_after - timedelta(days=1)).replace(second=0, microsecond=0)
    rule = rrulestr(meeting.rrule, dtstart=anchor)
    found: list[datetime] = []
    cursor = local_after
    while len(found) < count:
        local = rule.after(cursor, inc=False)
        if local is None:
            break
        instant = local.replace(tzinfo=tz).astimezone(UTC)
        if instant > after:
            found.append(instant)
        cursor = local
    return found
