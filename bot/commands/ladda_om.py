"""!ladda-om: read the configuration file again (admins). An invalid file changes nothing."""

from __future__ import annotations

from bot.commands.registry import Access, command
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.messages import Outgoing
from bot.state import repo
from bot.texts.rich import Rich

SHOWN = 20  # lines of errors or changes in the reply; the log has them all


@command("ladda-om", en="reload", aliases=("laddaom",), access=Access.ADMIN)
async def ladda_om(ctx: Context) -> list[Outgoing]:
    if ctx.reload is None:
        raise UserError("reload.unavailable")
    result = await ctx.reload()
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="reload",
                     allowed=not result.errors, event_id=ctx.incoming.event_id,
                     detail={"errors": list(result.errors), "changes": list(result.changes)})
    if result.errors:
        rich = Rich().bold(ctx.t("reload.refused", count=len(result.errors)))
        lines = result.errors
    else:
        rich = Rich().bold(ctx.t("reload.done", summary=result.summary))
        lines = result.changes or (ctx.t("reload.no_changes"),)
    for line in lines[:SHOWN]:
        rich.item().text(line)
    if len(lines) > SHOWN:
        rich.item().text(ctx.t("reload.more", count=len(lines) - SHOWN))
    return [ctx.reply(rich)]
