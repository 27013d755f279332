"""!ångra: withdraw your latest log entry (kept, marked withdrawn)."""

from __future__ import annotations

from bot.commands.registry import command
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.flows.meetings import which_forum
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state import repo
from bot.texts.rich import Rich


@command("ångra", en="undo", aliases=("angra",))
async def angra(ctx: Context) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    entry = await store.last_entry_by(ctx.session, forum.id, ctx.sender)
    if entry is None:
        raise UserError("log.nothing_to_undo")
    entry.withdrawn_at = ctx.clock.now()
    ctx.session.add(entry)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="log_withdraw", forum_id=forum.id,
                     event_id=ctx.incoming.event_id, detail={"entry": entry.id})
    label = ctx.t(f"log.kind.{entry.kind}")
    return [ctx.reply(Rich().text(ctx.t("log.withdrawn", kind=label, number=entry.id, text=entry.text[:100])))]
