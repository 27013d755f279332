"""!kalla-in <funktion|organisation> [forum]: adapted composition: add a function to the forum. When
the forum is activated it is convened at once, for this event; in ordinary mode (a planned event,
scene 2) it is convened to the next conference, until !kalla-ut."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.convocation import ordered
from bot.domain.model import Forum, Function
from bot.flows.context import Context
from bot.flows.convocation import convene
from bot.flows.meetings import upcoming, when_with_week
from bot.messages import Message, Outgoing, direct_target
from bot.state import convocations as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.texts.rich import Rich


@command("kalla-in", en="add", aliases=("kallain",), args=(Arg("who_forum", rest=True, max_length=200),),
         usage_override={"sv": "<funktion|organisation> [forum]", "en": "<function|organisation> [forum]"})
async def kalla_in(ctx: Context, who_forum: str) -> list[Outgoing]:
    found, forum = converters.who_and_forum(ctx, who_forum)
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = await ctx.convener_or_chair(forum, state, "kalla.add_refused", "add_function")
    present = set(state.composition(forum)) | set(await store.added_functions(ctx.session, forum.id,
                                                                              state.activation_id))
    new = [f.id for f in converters.functions_of(ctx, found) if f.id not in present]
    if not new:
        return [ctx.reply(Rich().text(ctx.t("kalla.already_in", name=found.name, forum=forum.name)))]
    now = ctx.clock.now()
    for function_id in new:
        await store.add_function(ctx.session, forum.id, state.activation_id, function_id, ctx.sender, now)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="add_function",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"added": new, "event": state.event})
    names = ", ".join(ctx.directory.function(f).name for f in new)
    if not state.active:  # convened with the forum from its next conference on; its holders are told quietly
        return [ctx.reply(Rich().text(ctx.t("kalla.added_ordinary", functions=names, forum=forum.name,
                                            forum_id=forum.id))), *await _tell_called_in(ctx, forum, new, function)]
    latest = await store.latest(ctx.session, forum.id)
    into = latest if latest is not None and latest.activation_id == state.activation_id else None
    out = await convene(ctx, forum, state, kind="activation" if into else "extra", function_ids=ordered(new, ()),
                        into=into, added=True)
    return [ctx.reply(Rich().text(ctx.t("kalla.added", functions=names, forum=forum.name, event=state.event))), *out]


async def _tell_called_in(ctx: Context, forum: Forum, function_ids: list[str], by: Function) -> list[Outgoing]:
    """A quiet direct message to each holder: which forum, from when, and who called them in."""
    now = ctx.clock.now()
    roster = await ctx.roster()
    coming = [o for o in await upcoming(ctx, forum) if not o.cancelled]
    when = when_with_week(ctx, coming[0].starts_at) if coming else ctx.t("kalla.next_conference")
    out: list[Outgoing] = []
    for function_id in function_ids:
        told = Rich().text(ctx.t("kalla.added_dm", forum=forum.name, function=ctx.directory.function(function_id).name,
                                 when=when, by=by.name) + " ").pill(ctx.sender)
        out += [Message(target=direct_target(u), body=told.plain, html=told.html)
                for u in roster.holders(function_id, now)]
    return out
