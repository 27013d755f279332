"""!upplös <forum>: dissolve a forum formed for the event (!bilda). Its conveners and chair may; the
room stays, with its history, and the record keeps the forum. A configured forum is not dissolved:
it goes back to ordinary mode with !avaktivera."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.flows.formed import end
from bot.messages import Outgoing
from bot.state import formed as store
from bot.state import forums as forum_store


@command("upplös", en="dissolve", args=(Arg("forum", converters.forum),))
async def upplos(ctx: Context, forum: Forum) -> list[Outgoing]:
    if await store.living(ctx.session, forum.id) is None:
        raise UserError("formed.not_formed", forum=forum.name, forum_id=forum.id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = await ctx.convener_or_chair(forum, state, "formed.dissolve_refused", "dissolve_forum")
    return await end(ctx, forum, state, function)
