"""!flytta <forum> <tid> [till <tid>]: move one scheduled meeting (a convener or the chair;
audited; everyone already convened is told)."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import BadArgument
from bot.flows.meetings import may_change_schedule, meeting_time, occurrence_at, tell_convened, when_with_week
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state import repo
from bot.texts.rich import Rich

TO = {"till", "to"}


@command("flytta", en="reschedule", args=(Arg("forum", converters.forum), Arg("times", rest=True, max_length=200)),
         usage_override={"sv": "<forum> <tid> [till <tid>]", "en": "<forum> <time> [to <time>]"})
async def flytta(ctx: Context, forum: Forum, times: str) -> list[Outgoing]:
    function = await may_change_schedule(ctx, forum, "reschedule")
    words = times.split()
    cut = next((i for i, w in enumerate(words) if normalise(w) in TO), None)
    if cut is None:
        occurrence, new = await occurrence_at(ctx, forum, None), meeting_time(ctx, words)
    else:
        occurrence = await occurrence_at(ctx, forum, meeting_time(ctx, words[:cut]))
        new = meeting_time(ctx, words[cut + 1:])
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
    return [ctx.reply(Rich().text(text)), *await tell_convened(ctx, forum, occurrence, text, moved_to=new)]
