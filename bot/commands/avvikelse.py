"""!avvikelse <nummer> <orsak>: an action's owner reports that it will not be carried out as agreed
(seed 000: each actor decides about its own commitments, which are followed up)."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.errors import BadArgument, UserError
from bot.flows.meetings import owned_action
from bot.messages import Outgoing
from bot.state import repo
from bot.texts.rich import Rich

MAX_REASON = 1000


@command("avvikelse", en="deviation", args=(Arg("number_and_reason", rest=True, max_length=MAX_REASON + 20),),
         usage_override={"sv": "<nummer> <orsak>", "en": "<number> <reason>"})
async def avvikelse(ctx: Context, number_and_reason: str) -> list[Outgoing]:
    number, _, reason = number_and_reason.strip().lstrip("#").partition(" ")
    reason = reason.strip()
    entry, acting = await owned_action(ctx, number, "deviation.not_owner", "action_deviation")
    if entry.done_at is not None:
        raise UserError("deviation.done", number=entry.id, when=ctx.when(entry.done_at))
    if not reason:
        raise BadArgument("deviation.reason_missing", number=entry.id)
    now = ctx.clock.now()
    entry.deviation, entry.deviation_at = reason, now
    ctx.session.add(entry)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=acting.id if acting else None,
                     action="action_deviation", forum_id=entry.forum_id, event_id=ctx.incoming.event_id,
                     detail={"entry": entry.id, "reason": reason})
    return [ctx.reply(Rich().text(ctx.t("deviation.noted", number=entry.id, text=entry.text, reason=reason)))]
