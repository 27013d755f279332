"""!övning på|av [forum]: exercise mode, so a drill is never mistaken for the real thing."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.flows.forums import heading, room_state
from bot.messages import Outgoing
from bot.state import forums as store
from bot.state import repo
from bot.texts.rich import Rich


def on_off(ctx: Context, raw: str) -> bool:
    word = normalise(raw)
    if word in ("pa", "on", "ja", "yes"):
        return True
    if word in ("av", "off", "nej", "no"):
        return False
    raise BadArgument("error.missing_arg", arg=ctx.t("arg.on_off"))


@command("övning", en="exercise", aliases=("ovning",),
         args=(Arg("on_off", on_off), Arg("forum", converters.forum, optional=True)))
async def ovning(ctx: Context, on_off: bool, forum: Forum | None) -> list[Outgoing]:
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("exercise.which_forum")
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if who.convener is None:
        raise NotAllowed("exercise.refused", action="exercise", forum_id=forum.id, forum=forum.name)
    if state.exercise == on_off:
        shown = ctx.t("exercise.state_on" if on_off else "exercise.state_off")
        return [ctx.reply(Rich().text(ctx.t("exercise.unchanged", forum=forum.name, state=shown)))]
    await store.set_exercise(ctx.session, forum.id, on_off)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, function_id=who.convener.id,
                     action="exercise_on" if on_off else "exercise_off", forum_id=forum.id,
                     event_id=ctx.incoming.event_id)
    after = await store.forum_state(ctx.session, forum.id)
    text = ctx.t("exercise.on" if on_off else "exercise.off", forum=forum.name)
    return [ctx.reply(heading(ctx, after).text(text)), *room_state(ctx, forum, after)]
