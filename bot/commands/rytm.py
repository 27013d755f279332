"""!rytm <forum> <intervall | av>: while the forum is activated, a conference every so often."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.record import duration
from bot.domain.timeparse import parse_duration
from bot.flows import rhythm
from bot.flows.context import Context
from bot.flows.errors import BadArgument, UserError
from bot.messages import Outgoing
from bot.state import forums as forum_store
from bot.state import repo
from bot.texts.rich import Rich

OFF = {"av", "off", "stopp", "stop"}


@command("rytm", en="rhythm", args=(Arg("forum", converters.forum), Arg("interval", max_length=20)),
         usage_override={"sv": "<forum> <intervall, t.ex. 4h | av>", "en": "<forum> <interval, e.g. 4h | off>"})
async def rytm(ctx: Context, forum: Forum, interval: str) -> list[Outgoing]:
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = await ctx.convener_or_chair(forum, state, "rhythm.refused", "rhythm")
    if not state.active:
        raise UserError("rhythm.not_active", forum=forum.name)
    if interval.lower() in OFF:
        gap = None
    else:
        try:
            gap = parse_duration(interval)
        except ValueError:
            raise BadArgument("rhythm.bad", given=interval) from None
        if not rhythm.SHORTEST <= gap <= rhythm.LONGEST:
            raise BadArgument("rhythm.bad", given=interval)
    await rhythm.set_every(ctx, forum, state, gap)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, function_id=function.id, action="rhythm",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"seconds": int(gap.total_seconds()) if gap else 0})
    if gap is None:
        return [ctx.reply(Rich().text(ctx.t("rhythm.off", forum=forum.name)))]
    planned = await rhythm.plan_next(ctx, forum, state, ctx.clock.now())
    rich = Rich().text(ctx.t("rhythm.set", forum=forum.name, every=duration(gap)))
    if not planned:
        rich.text(" " + ctx.t("rhythm.already_planned"))
    return [ctx.reply(rich), *planned]
