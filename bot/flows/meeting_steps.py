"""What the schedule does at each step of a meeting: convene, ask for reports, chase the missing,
post the weekly summary, remind, open.

A step that comes late (the bot was down) still runs if the meeting has not ended, and says it is
late; once the meeting has ended it is recorded as missed and the chair is told, once.
"""

from __future__ import annotations

from datetime import timedelta

from bot.domain.convocation import Call
from bot.domain.forums import ForumState
from bot.domain.lagesbild import week_of
from bot.domain.model import Forum, Meeting
from bot.domain.schedule import CONVENE, DEADLINE, REMIND, REQUEST, SUMMARY, Occurrence, Step
from bot.flows import rhythm
from bot.flows.context import Context
from bot.flows.convocation import convene, details, direct_messages, headline, join_line, tell_chair
from bot.flows.lagesbild import chase, request_reports, request_update, weekly_summary
from bot.messages import Message, Outgoing
from bot.state import convocations as conv_store
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state.models import Convocation, MeetingRow

LATE = timedelta(minutes=5)  # a step run later than this says so


async def meeting_for(ctx: Context, occurrence: Occurrence, state: ForumState) -> MeetingRow:
    """The meeting row of a scheduled occurrence, created at its first step."""
    meeting = await store.by_occurrence(ctx.session, occurrence.key)
    if meeting is None:
        meeting = await store.add(ctx.session, MeetingRow(
            forum_id=occurrence.forum.id, name=occurrence.meeting.name, occurrence=occurrence.key,
            starts_at=occurrence.starts_at, mode=state.mode, activation_id=state.activation_id, event=state.event,
            exercise=state.exercise))
    meeting.starts_at = occurrence.starts_at
    ctx.session.add(meeting)
    return meeting


async def run_step(ctx: Context, step: Step) -> list[Outgoing]:
    occurrence = step.occurrence
    forum = occurrence.forum
    now = ctx.clock.now()
    state = await forum_store.forum_state(ctx.session, forum.id)
    meeting = await meeting_for(ctx, occurrence, state)
    if meeting.status != "planned":  # held already (opened by hand), missed or cancelled
        return []
    if now >= occurrence.ends_at:
        meeting.status = "missed"
        ctx.session.add(meeting)
        return await tell_chair(ctx, forum, state, ctx.t("meeting.missed", name=meeting.name,
                                                         when=ctx.when(meeting.starts_at)))
    late = now - step.at > LATE
    year, week = week_of(occurrence.starts_at, ctx.tz)  # the reports are for this meeting
    if step.kind == CONVENE:
        return await _convene(ctx, forum, state, meeting, occurrence.meeting, late)
    if step.kind == REQUEST:
        deadline = occurrence.starts_at - occurrence.meeting.report_due_before
        if deadline <= now:
            return []
        return await request_reports(ctx, forum, state, deadline, meeting.name, year, week)
    if step.kind == DEADLINE:
        return await chase(ctx, forum, state, year, week)
    if step.kind == SUMMARY:
        return await weekly_summary(ctx, forum, state, year, week)
    if step.kind == REMIND:
        return await _remind(ctx, forum, state, meeting)
    return await open_meeting(ctx, forum, state, meeting, late=late)


async def _convocation(ctx: Context, meeting: MeetingRow) -> Convocation | None:
    if meeting.convocation_id is None:
        return None
    return await conv_store.get(ctx.session, meeting.convocation_id)


async def _convene(ctx: Context, forum: Forum, state: ForumState, meeting: MeetingRow, planned: Meeting,
                   late: bool) -> list[Outgoing]:
    subject = meeting.name + (" — " + ctx.t("meeting.late_convocation") if late else "")
    out = await convene(ctx, forum, state, kind=planned.kind, starts_at=meeting.starts_at, subject=subject,
                        escalate=False, meeting_sms_after=planned.sms_after,
                        meeting_call_after=planned.call_after, planned=True)
    convocation = await conv_store.latest(ctx.session, forum.id)
    meeting.convocation_id = convocation.id if convocation else None
    ctx.session.add(meeting)
    return out


async def _remind(ctx: Context, forum: Forum, state: ForumState, meeting: MeetingRow) -> list[Outgoing]:
    """The dial-in again, to those convened who have not acknowledged."""
    convocation = await _convocation(ctx, meeting)
    return await remind_unanswered(ctx, forum, state, convocation) if convocation else []


async def remind_unanswered(ctx: Context, forum: Forum, state: ForumState,
                            convocation: Convocation) -> list[Outgoing]:
    assert convocation.id is not None
    waiting = [Call(ctx.directory.function(s.function_id), tuple(conv_store.holders(s)))
               for s in await conv_store.summonses(ctx.session, convocation.id) if s.ack_at is None]
    return await direct_messages(ctx, forum, state, convocation, waiting, reminder=True)


async def later_conference_step(ctx: Context, convocation_id: int, step: str) -> list[Outgoing]:
    """A conference called for later (`!aktivera … kl 16:00`, `!kalla … 14:30`): the dial-in again to
    who has not acknowledged `CONFERENCE_REMIND` before (REMIND), and the meeting opened at its time (OPEN)."""
    convocation = await conv_store.get(ctx.session, convocation_id)
    if convocation is None or convocation.ended_at is not None:
        return []  # ended (deactivated, replaced, cancelled): nothing of it is delivered any more
    forum = ctx.directory.forum(convocation.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    if convocation.activation_id is not None and convocation.activation_id != state.activation_id:
        return []  # called during an activation that has ended: the forum is back in ordinary mode
    if step == REMIND:
        return [*await remind_unanswered(ctx, forum, state, convocation),
                *await request_update(ctx, forum, state, convocation)]
    if await store.open_meeting(ctx.session, forum.id) is not None:
        return []  # someone opened it already
    meeting = await store.add(ctx.session, MeetingRow(
        forum_id=forum.id, name=ctx.t(f"meeting.name.{convocation.mode}"), starts_at=convocation.starts_at,
        convocation_id=convocation.id))
    return [*await open_meeting(ctx, forum, state, meeting),
            *await rhythm.plan_next(ctx, forum, state, convocation.starts_at)]


async def open_meeting(ctx: Context, forum: Forum, state: ForumState, meeting: MeetingRow, *,
                       late: bool = False) -> list[Outgoing]:
    """The meeting begins: it takes the forum's mode and chair, and the room is told how to join."""
    now = ctx.clock.now()
    meeting.status, meeting.opened_at = "open", now
    meeting.mode, meeting.activation_id, meeting.event = state.mode, state.activation_id, state.event
    meeting.exercise = state.exercise
    first = state.active and state.activation_id is not None and not [
        m for m in await store.of_activation(ctx.session, forum.id, state.activation_id) if m.id != meeting.id]
    chair = state.chair_function(forum)
    if first and state.activated_by_function:
        chair = state.activated_by_function  # the convener chairs and documents the first meeting
    meeting.chair_function = meeting.chair_function or chair
    meeting.secretary_function = meeting.secretary_function or (chair if first else None)
    ctx.session.add(meeting)
    rich = headline(ctx, forum, state).br().bold(ctx.t("meeting.opened", name=meeting.name))
    if late:
        rich.text(" " + ctx.t("meeting.opened_late"))
    rich.br().text(ctx.t("meeting.chair", function=ctx.directory.function(meeting.chair_function).name))
    if first:
        rich.br().text(ctx.t("meeting.first_of_activation"))
    join = join_line(ctx, forum)
    if join.plain:
        rich.br().extend(join)
    convocation = await _convocation(ctx, meeting)
    if convocation is not None:
        details(ctx, forum, convocation, rich)
    rich.br().text(ctx.t("meeting.how_to"))
    return [Message(target=forum.room, body=rich.plain, html=rich.html)]

