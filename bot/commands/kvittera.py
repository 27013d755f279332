"""!kvittera [kommer HH:MM | ersättare]: acknowledge a convocation; a ✅/👍 on it does the same."""

from __future__ import annotations

from bot.commands.registry import Arg, command, on_reaction
from bot.domain.convocation import Ack, parse_ack
from bot.domain.timeparse import TIME_EXAMPLES
from bot.flows.context import Context
from bot.flows.convocation import Acknowledged, ack_text, acknowledge, note_unproven_ack, pending_for
from bot.flows.errors import BadArgument, UserError
from bot.messages import Message, Outgoing, direct_target
from bot.state import repo
from bot.texts.rich import Rich


@command("kvittera", en="ack", aliases=("kvitto", "acknowledge"), args=(Arg("ack_note", optional=True, rest=True),),
         usage_override={"sv": "[kommer HH:MM | ersättare]", "en": "[coming HH:MM | deputy]"})
async def kvittera(ctx: Context, ack_note: str | None) -> list[Outgoing]:
    try:
        ack = parse_ack(ack_note or "", ctx.clock.now(), ctx.tz)
    except ValueError:
        raise BadArgument("ack.bad_note", examples=TIME_EXAMPLES) from None
    pending = await pending_for(ctx, ctx.forum_here())
    if not pending:
        raise UserError("ack.nothing")
    done = await acknowledge(ctx, pending, ack)
    await _audit(ctx, done, ack)
    return [ctx.reply(ack_text(ctx, done, ack))]


@on_reaction("conv")
async def ack_by_reaction(ctx: Context, value: str) -> list[Outgoing]:
    """A ✅ on the room ping or the direct message acknowledges; the confirmation comes by direct message."""
    pending = await pending_for(ctx, None, convocation_id=int(value))
    if not pending:
        return []
    ack = Ack()
    done = await acknowledge(ctx, pending, ack)
    await _audit(ctx, done, ack)
    rich = ack_text(ctx, done, ack)
    return [Message(target=direct_target(ctx.sender), body=rich.plain, html=rich.html)]


@on_reaction("conv", unproven=True)
async def ack_by_unproven_reaction(ctx: Context, value: str) -> list[Outgoing]:
    """A ✅ from someone with a session they have not verified (or an identity not yet approved) is noted and
    audited, but it stops no escalation: the deputy is called as if nobody had answered."""
    pending = await pending_for(ctx, None, convocation_id=int(value))
    if not pending:
        return []
    noted = note_unproven_ack(ctx, pending)
    for summons in noted:
        await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, function_id=summons.function_id,
                         action="acknowledge", allowed=False, event_id=ctx.incoming.event_id,
                         detail={"reason": "error.unverified_sessions", "convocation": int(value)})
    rich = Rich().text(ctx.t("ack.unproven"))
    return [Message(target=direct_target(ctx.sender), body=rich.plain, html=rich.html)]


async def _audit(ctx: Context, done: list[Acknowledged], ack: Ack) -> None:
    for item in done:
        for function in item.functions:
            await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, function_id=function.id,
                             action="acknowledge", forum_id=item.forum.id, event_id=ctx.incoming.event_id,
                             detail={"joins_at": ack.joins_at.isoformat() if ack.joins_at else None,
                                     "deputy": ack.deputy})
