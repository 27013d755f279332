"""!ställ-in <forum> [tid]: cancel one scheduled meeting (a convener or the chair; audited;
everyone already convened is told)."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.meetings import may_change_schedule, meeting_time, occurrence_at, tell_convened, when_with_week
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state import repo
from bot.texts.rich import Rich


@command("ställ-in", en="cancel", aliases=("stall-in", "ställin", "stallin"),
         args=(Arg("forum", converters.forum), Arg("time", optional=True, rest=True, max_length=100)))
async def stall_in(ctx: Context, forum: Forum, time: str | None) -> list[Outgoing]:
    function = await may_change_schedule(ctx, forum, "cancel")
    occurrence = await occurrence_at(ctx, forum, meeting_time(ctx, time.split()) if time else None)
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
    return [ctx.reply(Rich().text(text)), *await tell_convened(ctx, forum, occurrence, text, cancelled=True)]
