"""!återfört [nummer]: your organisation has taken a direction home (återföra, seed 000); a ✅ on the
direction does the same. Without a number: the forum's directions and who has taken each home."""

from __future__ import annotations

from dataclasses import replace

from bot.commands.registry import Arg, command, on_reaction
from bot.flows.context import Context
from bot.flows.convocation import answering_for
from bot.flows.errors import BadArgument, UserError
from bot.flows.meetings import returned_text, which_forum
from bot.messages import Message, Outgoing
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state import repo
from bot.state.models import DirectionReturn
from bot.texts.rich import Rich


@command("återfört", en="returned", aliases=("aterfort",), args=(Arg("number", optional=True, max_length=20),),
         usage_override={"sv": "[nummer]", "en": "[number]"})
async def aterfort(ctx: Context, number: str | None) -> list[Outgoing]:
    if number is None:
        return await listing(ctx)
    digits = number.lstrip("#")
    if not digits.isdecimal() or len(digits) > 9:
        raise BadArgument("returned.bad_number", given=number[:20])
    return await confirm(ctx, int(digits))


async def confirm(ctx: Context, number: int) -> list[Outgoing]:
    entry = await store.get_entry(ctx.session, number)
    if entry is None or entry.kind != "direction" or entry.withdrawn_at is not None:
        raise UserError("returned.no_direction", number=number)
    forum = ctx.directory.forum(entry.forum_id)
    state = await forum_store.forum_state(ctx.session, forum.id)
    function, asked = await answering_for(ctx, forum, state, "returned.not_asked", "direction_returned")
    organisation = ctx.directory.organisation(function.organisation).name
    done = {r.organisation_id for r in await store.returns(ctx.session, [number])}
    if function.organisation in done:
        return [ctx.reply(Rich().text(ctx.t("returned.already", organisation=organisation, number=number)))]
    now = ctx.clock.now()
    ctx.session.add(DirectionReturn(entry_id=number, organisation_id=function.organisation, function_id=function.id,
                                    user_id=ctx.sender, at=now))
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="direction_returned",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"entry": number})
    rich = Rich().text(ctx.t("returned.noted", organisation=organisation, number=number))
    if not [o for o in asked if o not in done | {function.organisation}]:
        rich.br().text(ctx.t("returned.everyone", number=number))
    return [ctx.reply(rich)]


async def listing(ctx: Context) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    state = await forum_store.forum_state(ctx.session, forum.id)
    directions = [e for e in await store.in_force(ctx.session, forum.id, state.activation_id) if e.kind == "direction"]
    rich = Rich().bold(ctx.t("returned.title", forum=forum.name))
    if not directions:
        return [ctx.reply(rich.br().text(ctx.t("returned.none")))]
    return [ctx.reply(await returned_text(ctx, forum, state, directions, rich))]


@on_reaction("återfört")
async def returned_by_reaction(ctx: Context, value: str) -> list[Outgoing]:
    """A ✅ on the direction as logged: a quiet notice in its room."""
    return [replace(m, reply_to=None) if isinstance(m, Message) else m for m in await confirm(ctx, int(value))]
