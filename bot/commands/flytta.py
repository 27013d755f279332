"""!flytta <forum> <tid> [till <tid>] and !ställ-in <forum> [tid]: change one scheduled meeting.

Both are for a convener or the chair, are audited, and tell everyone already convened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.commands import converters
from bot.commands.context import Context
from bot.commands.convene import headline, pings, rings
from bot.commands.errors import BadArgument, UserError
from bot.commands.registry import Arg, command
from bot.commands.schema import upcoming, when_with_week
from bot.config import Forum
from bot.domain.names import normalise
from bot.domain.schedule import Occurrence
from bot.domain.timeparse import TIME_EXAMPLES, parse_when
from bot.messages import Outgoing
from bot.state import convocations as conv_store
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state import repo
from bot.texts.rich import Rich

TO = {"till", "to"}
MATCH = timedelta(minutes=1)


async def _allowed(ctx: Context, forum: Forum, action: str) -> str:
    state = await forum_store.forum_state(ctx.session, forum.id)
    return (await ctx.convener_or_chair(forum, state, "schema.refused", action)).id


def _time(ctx: Context, words: list[str]) -> datetime:
    try:
        return parse_when(" ".join(words), ctx.clock.now(), ctx.tz)
    except ValueError:
        raise BadArgument("schema.bad_time", examples=TIME_EXAMPLES) from None


async def _occurrence(ctx: Context, forum: Forum, at: datetime | None) -> Occurrence:
    """The scheduled occurrence at `at`, or the next one."""
    found = [o for o in await upcoming(ctx, forum, timedelta(days=90)) if not o.cancelled]
    if at is not None:
        found = [o for o in found if abs(o.starts_at - at) < MATCH]
    if not found:
        raise UserError("schema.no_such_meeting", forum=forum.name, forum_id=forum.id)
    return found[0]


async def _tell(ctx: Context, forum: Forum, occurrence: Occurrence, text: str) -> list[Outgoing]:
    """The forum room, and everyone already convened by direct message."""
    state = await forum_store.forum_state(ctx.session, forum.id)
    meeting = await store.by_occurrence(ctx.session, occurrence.key)
    rich = headline(ctx, forum, state).br().text(text)
    if meeting is None or meeting.convocation_id is None:
        return pings(forum.room, rich, [], None)
    summonses = await conv_store.summonses(ctx.session, meeting.convocation_id)
    people = list(dict.fromkeys(u for s in summonses for u in conv_store.holders(s)))
    return [*pings(forum.room, rich, people, None), *rings(people, rich)]


@command("flytta", en="reschedule", args=(Arg("forum", converters.forum), Arg("times", rest=True, max_length=200)),
         usage_override={"sv": "<forum> <tid> [till <tid>]", "en": "<forum> <time> [to <time>]"})
async def flytta(ctx: Context, forum: Forum, times: str) -> list[Outgoing]:
    function = await _allowed(ctx, forum, "reschedule")
    words = times.split()
    cut = next((i for i, w in enumerate(words) if normalise(w) in TO), None)
    if cut is None:
        occurrence, new = await _occurrence(ctx, forum, None), _time(ctx, words)
    else:
        occurrence, new = await _occurrence(ctx, forum, _time(ctx, words[:cut])), _time(ctx, words[cut + 1:])
    if new <= ctx.clock.now():
        raise BadArgument("schema.past", when=ctx.when(new))
    now = ctx.clock.now()
    await store.change(ctx.session, forum.id, occurrence.meeting.name, occurrence.original, new, ctx.sender, now)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function, action="reschedule",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"meeting": occurrence.meeting.name, "from": occurrence.starts_at.isoformat(),
                             "to": new.isoformat()})
    text = ctx.t("schema.moved", name=occurrence.meeting.name, old=when_with_week(ctx, occurrence.starts_at),
                 new=when_with_week(ctx, new))
    return [ctx.reply(Rich().text(text)), *await _tell(ctx, forum, occurrence, text)]


@command("ställ-in", en="cancel", aliases=("stall-in", "ställin", "stallin"),
         args=(Arg("forum", converters.forum), Arg("time", optional=True, rest=True, max_length=100)))
async def stall_in(ctx: Context, forum: Forum, time: str | None) -> list[Outgoing]:
    function = await _allowed(ctx, forum, "cancel")
    occurrence = await _occurrence(ctx, forum, _time(ctx, time.split()) if time else None)
    now = ctx.clock.now()
    await store.change(ctx.session, forum.id, occurrence.meeting.name, occurrence.original, None, ctx.sender, now)
    meeting = await store.by_occurrence(ctx.session, occurrence.key)
    if meeting is not None:
        meeting.status = "cancelled"
        ctx.session.add(meeting)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function, action="cancel",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"meeting": occurrence.meeting.name, "at": occurrence.starts_at.isoformat()})
    text = ctx.t("schema.cancelled_meeting", name=occurrence.meeting.name,
                 when=when_with_week(ctx, occurrence.starts_at))
    return [ctx.reply(Rich().text(text)), *await _tell(ctx, forum, occurrence, text)]
