"""!sekreterare <funktion>: who keeps the minutes of the open meeting."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Function
from bot.flows.context import Context
from bot.flows.meetings import chair_function, require_open, which_forum
from bot.messages import Outgoing
from bot.state import repo
from bot.texts.rich import Rich


@command("sekreterare", en="secretary", args=(Arg("function", converters.function, rest=True),))
async def sekreterare(ctx: Context, function: Function) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    by = await chair_function(ctx, forum, "set_secretary")
    meeting = await require_open(ctx, forum)
    meeting.secretary_function = function.id
    ctx.session.add(meeting)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, function_id=by.id, action="set_secretary",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"secretary": function.id})
    return [ctx.reply(Rich().text(ctx.t("meeting.secretary_set", function=function.name)))]
