"""!ordförande <funktion>: hand over the chair of the open meeting."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Function
from bot.flows.context import Context
from bot.flows.meetings import chair_function, which_forum
from bot.messages import Outgoing
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state import repo
from bot.texts.rich import Rich


@command("ordförande", en="chair", aliases=("ordforande",), args=(Arg("function", converters.function, rest=True),))
async def ordforande(ctx: Context, function: Function) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    by = await chair_function(ctx, forum, "set_chair")
    now = ctx.clock.now()
    await forum_store.set_chair(ctx.session, forum.id, function.id)
    meeting = await store.open_meeting(ctx.session, forum.id)
    if meeting is not None:
        meeting.chair_function = function.id
        ctx.session.add(meeting)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=by.id, action="set_chair",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"chair": function.id})
    return [ctx.reply(Rich().text(ctx.t("meeting.chair_set", function=function.name, forum=forum.name)))]
