"""A year of a forum's life written straight into the database, for benchmarks that need history.

Each week: the weekly meeting (convocation, one summons per function, all acknowledged, the
meeting ended with roll call and three log entries), three situation reports per organisation,
and what the bot sent and handled for it (outbox rows, handled events, audit). Rows only, through
the bot's own models; no Matrix.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.lagesbild import FIELD_KEYS, week_of
from bot.state.db import Database
from bot.state.models import (
    Attendance,
    AuditEntry,
    Convocation,
    HandledEvent,
    LogEntry,
    MeetingRow,
    OutboxMessage,
    ReportRow,
    Summons,
)

TZ = ZoneInfo("Europe/Stockholm")


async def fill_year(db: Database, forum_id: str, functions: list[tuple[str, str, str]], now: datetime,
                    weeks: int = 52, reports_per_week: int = 3) -> int:
    """Write `weeks` weeks of history before `now`; `functions` are (function, organisation, holder).
    Returns the number of rows written."""
    rng = random.Random(47)
    rows = 0
    async with db.session() as session:
        for w in range(weeks, 0, -1):
            starts = now - timedelta(weeks=w)
            convocation = Convocation(forum_id=forum_id, kind="veckomöte", created_at=starts - timedelta(days=1),
                                      created_by="schedule", starts_at=starts)
            session.add(convocation)
            await session.flush()
            meeting = MeetingRow(forum_id=forum_id, name="Veckomöte", occurrence=f"{forum_id}:bench:{w}",
                                 starts_at=starts, status="ended", opened_at=starts,
                                 ended_at=starts + timedelta(minutes=40), convocation_id=convocation.id)
            session.add(meeting)
            await session.flush()
            assert meeting.id is not None and convocation.id is not None
            for function, organisation, holder in functions:
                convened = starts - timedelta(days=1)
                session.add(Summons(convocation_id=convocation.id, function_id=function,
                                    holders=json.dumps([holder]), convened_at=convened,
                                    ack_at=convened + timedelta(minutes=rng.randint(1, 90)), ack_by=holder))
                session.add(Attendance(meeting_id=meeting.id, function_id=function, user_id=holder, at=starts))
                for kind in ("convocation", "request", "reminder"):
                    session.add(OutboxMessage(txn_id=uuid.uuid4().hex, target=f"user:{holder}", priority=6,
                                              content=json.dumps({"body": f"{kind} " + "text " * 60}),
                                              created_at=convened, not_before=convened, attempts=1,
                                              sent_at=convened, event_id=f"$out{uuid.uuid4().hex}",
                                              room_id=f"!dm{organisation}:bench", ref=f"{kind}:{w}"))
                for n in range(reports_per_week):
                    at = starts - timedelta(hours=rng.randint(1, 60), minutes=n)
                    year, week = week_of(at, TZ)
                    fields = {k: f"{k} {organisation} {w} " + "text " * rng.randint(3, 30)
                              for k in rng.sample(FIELD_KEYS, rng.randint(0, 5))}
                    session.add(ReportRow(forum_id=forum_id, organisation_id=organisation, function_id=function,
                                          author=holder, at=at, year=year, week=week, raw="…",
                                          text="läget " * rng.randint(5, 60),
                                          fields=json.dumps(fields, ensure_ascii=False)))
                    session.add(HandledEvent(event_id=f"$in{uuid.uuid4().hex}", room_id="!forum:bench", handled_at=at))
                    session.add(AuditEntry(at=at, user_id=holder, function_id=function, action="rapport",
                                           forum_id=forum_id))
                rows += 2 + 3 + reports_per_week * 3
            for kind in ("decision", "direction", "action"):
                session.add(LogEntry(forum_id=forum_id, meeting_id=meeting.id, kind=kind, text=f"{kind} vecka {w}",
                                     author=functions[0][2], author_function=functions[0][0],
                                     at=starts + timedelta(minutes=20), done_at=starts + timedelta(days=2)
                                     if kind == "action" else None))
            rows += 5
    return rows
