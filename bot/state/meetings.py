"""Meetings, their schedule changes, attendance and the meeting log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.schedule import Change
from bot.state.models import Attendance, DirectionReturn, LogEntry, MeetingChange, MeetingRow

# ---- schedule changes ----


async def changes(session: AsyncSession) -> list[Change]:
    rows = (await session.exec(select(MeetingChange).order_by(col(MeetingChange.id)))).all()
    latest: dict[tuple[str, str, datetime], Change] = {}
    for row in rows:  # a later change of the same occurrence wins
        latest[(row.forum_id, row.meeting, row.original)] = Change(row.forum_id, row.meeting, row.original,
                                                                    row.moved_to)
    return list(latest.values())


async def change(session: AsyncSession, forum_id: str, meeting: str, original: datetime, moved_to: datetime | None,
                 by: str, at: datetime) -> None:
    session.add(MeetingChange(forum_id=forum_id, meeting=meeting, original=original, moved_to=moved_to,
                              changed_by=by, changed_at=at))


# ---- meetings ----


async def by_occurrence(session: AsyncSession, key: str) -> MeetingRow | None:
    return (await session.exec(select(MeetingRow).where(MeetingRow.occurrence == key))).first()


async def add(session: AsyncSession, meeting: MeetingRow) -> MeetingRow:
    session.add(meeting)
    await session.flush()
    return meeting


async def get(session: AsyncSession, meeting_id: int) -> MeetingRow | None:
    return await session.get(MeetingRow, meeting_id)


async def open_meeting(session: AsyncSession, forum_id: str) -> MeetingRow | None:
    query = (select(MeetingRow).where(MeetingRow.forum_id == forum_id, MeetingRow.status == "open")
             .order_by(col(MeetingRow.id).desc()))
    return (await session.exec(query)).first()


async def latest(session: AsyncSession, forum_id: str,
                 statuses: Sequence[str] = ("open", "ended")) -> MeetingRow | None:
    query = (select(MeetingRow).where(MeetingRow.forum_id == forum_id, col(MeetingRow.status).in_(statuses))
             .order_by(col(MeetingRow.opened_at).desc(), col(MeetingRow.id).desc()))
    return (await session.exec(query)).first()


async def planned_near(session: AsyncSession, forum_id: str, now: datetime, within: timedelta) -> MeetingRow | None:
    """A scheduled meeting of the forum, not yet held, that starts within `within` of now."""
    query = select(MeetingRow).where(MeetingRow.forum_id == forum_id, MeetingRow.status == "planned",
                                     col(MeetingRow.starts_at) >= now - within,
                                     col(MeetingRow.starts_at) <= now + within)
    return (await session.exec(query)).first()


async def of_activation(session: AsyncSession, forum_id: str, activation_id: int) -> Sequence[MeetingRow]:
    query = select(MeetingRow).where(MeetingRow.forum_id == forum_id, MeetingRow.activation_id == activation_id,
                                     col(MeetingRow.status).in_(("open", "ended")))
    return (await session.exec(query)).all()


# ---- attendance ----


async def attendance(session: AsyncSession, meeting_id: int) -> list[Attendance]:
    query = select(Attendance).where(Attendance.meeting_id == meeting_id).order_by(col(Attendance.id))
    return list((await session.exec(query)).all())


async def attend(session: AsyncSession, meeting_id: int, function_id: str, user_id: str, deputy: bool,
                 at: datetime) -> bool:
    """Mark a function present; False if it already was."""
    if any(a.function_id == function_id for a in await attendance(session, meeting_id)):
        return False
    session.add(Attendance(meeting_id=meeting_id, function_id=function_id, user_id=user_id, deputy=deputy, at=at))
    return True


# ---- the log ----


async def add_entry(session: AsyncSession, entry: LogEntry) -> LogEntry:
    session.add(entry)
    await session.flush()
    return entry


async def get_entry(session: AsyncSession, entry_id: int) -> LogEntry | None:
    return await session.get(LogEntry, entry_id)


async def entries(session: AsyncSession, meeting_id: int) -> list[LogEntry]:
    query = select(LogEntry).where(LogEntry.meeting_id == meeting_id).order_by(col(LogEntry.id))
    return list((await session.exec(query)).all())


async def last_entry_by(session: AsyncSession, forum_id: str, author: str) -> LogEntry | None:
    query = (select(LogEntry).where(LogEntry.forum_id == forum_id, LogEntry.author == author,
                                    col(LogEntry.withdrawn_at).is_(None))
             .order_by(col(LogEntry.id).desc()))
    return (await session.exec(query)).first()


async def open_actions(session: AsyncSession, forum_id: str | None = None) -> Sequence[LogEntry]:
    query = select(LogEntry).where(LogEntry.kind == "action", col(LogEntry.withdrawn_at).is_(None),
                                   col(LogEntry.done_at).is_(None))
    if forum_id is not None:
        query = query.where(LogEntry.forum_id == forum_id)
    return (await session.exec(query.order_by(col(LogEntry.due_at), col(LogEntry.id)))).all()


async def actions_to_remind(session: AsyncSession, before: datetime) -> Sequence[LogEntry]:
    """Open actions due before `before` whose owner has not been reminded."""
    query = select(LogEntry).where(LogEntry.kind == "action", col(LogEntry.withdrawn_at).is_(None),
                                   col(LogEntry.done_at).is_(None), col(LogEntry.reminded_at).is_(None),
                                   col(LogEntry.due_at).is_not(None), col(LogEntry.due_at) <= before)
    return (await session.exec(query)).all()


async def actions_to_chase(session: AsyncSession, now: datetime) -> Sequence[LogEntry]:
    """Open actions past their due time, with no deviation reported, whose owner has not been asked yet."""
    query = select(LogEntry).where(LogEntry.kind == "action", col(LogEntry.withdrawn_at).is_(None),
                                   col(LogEntry.done_at).is_(None), col(LogEntry.chased_at).is_(None),
                                   col(LogEntry.deviation).is_(None), col(LogEntry.due_at).is_not(None),
                                   col(LogEntry.due_at) <= now)
    return (await session.exec(query)).all()


async def in_force(session: AsyncSession, forum_id: str, activation_id: int | None, limit: int = 20) -> list[LogEntry]:
    """Decisions and directions not withdrawn: of the current activation, or the latest ones."""
    query = select(LogEntry).where(LogEntry.forum_id == forum_id, col(LogEntry.kind).in_(("decision", "direction")),
                                   col(LogEntry.withdrawn_at).is_(None))
    if activation_id is not None:
        query = query.where(LogEntry.activation_id == activation_id)
    rows = (await session.exec(query.order_by(col(LogEntry.id).desc()).limit(limit))).all()
    return list(reversed(rows))


async def of_activations(session: AsyncSession, activation_ids: Sequence[int]) -> Sequence[MeetingRow]:
    query = (select(MeetingRow).where(col(MeetingRow.activation_id).in_(activation_ids))
             .order_by(col(MeetingRow.starts_at)))
    return (await session.exec(query)).all()


async def entries_of_activations(session: AsyncSession, activation_ids: Sequence[int]) -> Sequence[LogEntry]:
    query = (select(LogEntry).where(col(LogEntry.activation_id).in_(activation_ids))
             .order_by(col(LogEntry.at)))
    return (await session.exec(query)).all()


async def actions_since(session: AsyncSession, forum_id: str, since: datetime) -> Sequence[LogEntry]:
    """A forum's actions not withdrawn: every open one, and those done since `since`."""
    query = select(LogEntry).where(LogEntry.kind == "action", LogEntry.forum_id == forum_id,
                                   col(LogEntry.withdrawn_at).is_(None),
                                   col(LogEntry.done_at).is_(None) | (col(LogEntry.done_at) >= since))
    return (await session.exec(query.order_by(col(LogEntry.due_at), col(LogEntry.id)))).all()


async def returns(session: AsyncSession, entry_ids: Sequence[int]) -> Sequence[DirectionReturn]:
    """The organisations' confirmations that they have taken these directions home, oldest first."""
    query = (select(DirectionReturn).where(col(DirectionReturn.entry_id).in_(entry_ids))
             .order_by(col(DirectionReturn.id)))
    return (await session.exec(query)).all()
