"""!kalla-ut <funktion|organisation> [forum]: the adapted composition shrinks again: a function called
in is released, told so quietly by direct message, and no longer convened (seed 000: the composition
"kan växla" as the event develops). The audit trail keeps that it was in."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.convocation import tell_texted_released
from bot.messages import Message, Outgoing, direct_target, on_matrix
from bot.state import convocations as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.texts.rich import Rich


@command("kalla-ut", en="release", aliases=("kallaut",), args=(Arg("who_forum", rest=True, max_length=200),),
         usage_override={"sv": "<funktion|organisation> [forum]", "en": "<function|organisation> [forum]"})
async def kalla_ut(ctx: Context, who_forum: str) -> list[Outgoing]:
    found, forum = converters.who_and_forum(ctx, who_forum)
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = await ctx.convener_or_chair(forum, state, "kalla.release_refused", "release_function")
    added = await store.added_functions(ctx.session, forum.id, state.activation_id)
    gone = [f for f in converters.functions_of(ctx, found) if f.id in added]
    if not gone:
        return [ctx.reply(Rich().text(ctx.t("kalla.not_added", name=found.name, forum=forum.name)))]
    now = ctx.clock.now()
    for released in gone:
        await store.remove_function(ctx.session, forum.id, state.activation_id, released.id)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="release_function",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"released": [f.id for f in gone], "event": state.event})
    names = ", ".join(f.name for f in gone)
    roster = await ctx.roster()
    told = Rich().text(ctx.t("kalla.released_dm", functions=names, forum=forum.name))
    people = dict.fromkeys(u for f in gone for u in roster.holders(f.id, now))
    texted: list[Outgoing] = []
    for convocation in await store.standing(ctx.session, forum.id, activation_id=state.activation_id):
        await store.release(ctx.session, convocation, [f.id for f in gone], list(people))
        texted += await tell_texted_released(ctx, forum, convocation, gone, list(people))
    return [ctx.reply(Rich().text(ctx.t("kalla.released", functions=names, forum=forum.name))),
            *(Message(target=direct_target(u), body=told.plain, html=told.html) for u in people if on_matrix(u)),
            *texted]
