"""!luckor [organisation]: the gaps, unknown names and double cover in the duty schedules over the next 14 days,
of every schedule the bot follows, from a feed or imported from a spreadsheet."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Organisation
from bot.flows.context import Context
from bot.flows.rota import describe, gaps_ahead, notices
from bot.messages import Outgoing
from bot.texts.rich import Rich


@command("luckor", en="gaps", args=(Arg("organisation", converters.organisation, optional=True),),
         reads_only=True)
async def luckor(ctx: Context, organisation: Organisation | None) -> list[Outgoing]:
    functions = [f for f in ctx.directory.settings.functions if (f.schedule or f.id in ctx.schedules)
                 and (organisation is None or f.organisation == organisation.id)]
    if not functions:
        return [ctx.reply(Rich().text(ctx.t("rota.no_schedules")))]
    now = ctx.clock.now()
    rich = Rich().bold(ctx.t("rota.title"))
    found = [(function, notice) for function in functions for notice in notices(gaps_ahead(ctx, function, now))]
    for function, notice in sorted(found, key=lambda pair: pair[1].gap.start):
        rich.item().text(describe(ctx, function, notice.gap, notice.more))
    if not found:
        rich.br().text(ctx.t("rota.none"))
    return [ctx.reply(rich)]
