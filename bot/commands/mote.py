"""!möte start|slut [forum]: open the forum's meeting; ending it publishes the minutes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.convocation import headline
from bot.flows.errors import BadArgument, UserError
from bot.flows.meeting_steps import open_meeting
from bot.flows.meetings import member_function, publish, which_forum
from bot.messages import Message, Outgoing
from bot.state import convocations as conv_store
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state import repo
from bot.state.models import MeetingRow
from bot.texts.rich import Rich

NEAR = timedelta(hours=3)  # a planned meeting this close is the one `!möte start` opens


def start_or_end(ctx: Context, raw: str) -> str:
    word = normalise(raw)
    if word in ("start", "borja", "begin", "oppna", "open"):
        return "start"
    if word in ("slut", "end", "avsluta", "stop", "stang", "close"):
        return "end"
    raise BadArgument("error.missing_arg", arg=ctx.t("arg.start_end"))


@command("möte", en="meeting", aliases=("mote",),
         args=(Arg("start_end", start_or_end), Arg("forum", converters.forum, optional=True)))
async def mote(ctx: Context, start_end: str, forum: Forum | None) -> list[Outgoing]:
    forum = which_forum(ctx, forum)
    function = await member_function(ctx, forum, f"meeting_{start_end}")
    now = ctx.clock.now()
    current = await store.open_meeting(ctx.session, forum.id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    if start_end == "end":
        if current is None:
            raise UserError("meeting.none_open", forum=forum.name)
        current.status, current.ended_at = "ended", now
        ctx.session.add(current)
        await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="meeting_end",
                         forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"meeting": current.id})
        ended = headline(ctx, forum, state).br().text(ctx.t("meeting.ended", name=current.name, when=ctx.when(now)))
        out: list[Outgoing] = [ctx.reply(ended)]
        if ctx.forum_here() is not forum:
            out.append(Message(target=forum.room, body=ended.plain, html=ended.html))
        return out + await publish(ctx, forum, current)
    if current is not None:
        return [ctx.reply(Rich().text(ctx.t("meeting.already_open", name=current.name,
                                            when=ctx.when(current.opened_at or now))))]
    meeting = await store.planned_near(ctx.session, forum.id, now, NEAR) or await store.add(ctx.session, MeetingRow(
        forum_id=forum.id, name=ctx.t(f"meeting.name.{state.mode}"), starts_at=now))
    if meeting.convocation_id is None:
        latest = await conv_store.latest(ctx.session, forum.id)
        if latest is not None and now - latest.created_at < timedelta(hours=12):
            meeting.convocation_id = latest.id
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="meeting_start",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"meeting": meeting.id})
    out = await open_meeting(ctx, forum, state, meeting)
    if ctx.forum_here() is forum:  # the opening answers the command
        return [replace(m, reply_to=ctx.incoming.event_id) if isinstance(m, Message) else m for m in out]
    return [*out, ctx.reply(Rich().text(ctx.t("meeting.started_elsewhere", forum=forum.name)))]
