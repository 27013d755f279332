"""!avaktivera <forum>: back to ordinary mode (a convener or the chair); the forums it formed for the event
are dissolved with it, and a forum formed for the event is dissolved."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain import forums as model
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.errors import NotAllowed
from bot.flows.formed import end
from bot.messages import Outgoing
from bot.state import forums as store
from bot.texts.rich import Rich


@command("avaktivera", en="deactivate", args=(Arg("forum", converters.forum),))
async def avaktivera(ctx: Context, forum: Forum) -> list[Outgoing]:
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if not model.may_deactivate(who):
        raise NotAllowed("activation.deactivate_refused", action="deactivate", forum_id=forum.id, forum=forum.name)
    if not state.active:
        return [ctx.reply(Rich().text(ctx.t("activation.not_active", forum=forum.name)))]
    function = who.convener or who.chair
    assert function is not None
    return await end(ctx, forum, state, function)
