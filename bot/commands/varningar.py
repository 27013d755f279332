"""!varningar: SMHI's warnings in force for the region, with level, event, time span and which forum, if any, is
activated for each; and whether the feed is stale."""

from __future__ import annotations

from bot.commands.registry import command
from bot.flows.context import Context
from bot.flows.warnings import activated_from, headline, stale_note
from bot.messages import Outgoing
from bot.state import feeds
from bot.state import warnings as store
from bot.texts.rich import Rich


@command("varningar", en="warnings", aliases=("vädervarningar",), reads_only=True)
async def varningar(ctx: Context) -> list[Outgoing]:
    if ctx.directory.settings.warnings is None:
        return [ctx.reply(Rich().text(ctx.t("warnings.not_watched")))]
    rich = Rich().bold(ctx.t("warnings.title"))
    rows = await store.in_force(ctx.session)
    if not rows:
        rich.br().text(ctx.t("warnings.none"))
    for row in rows:
        rich.item().text(headline(ctx, store.as_item(row)))
        activated = [ctx.t("warnings.activated", forum=forum.name, event=state.event or "")
                     for forum, state in await activated_from(ctx, row.key)]
        rich.indent().text("; ".join(activated) or ctx.t("warnings.no_forum"))
    copy = await feeds.get(ctx.session, feeds.WARNINGS)
    if copy is not None and copy.failing_since is not None:
        since = copy.good_at or copy.failing_since
        rich.br().text(stale_note(ctx, since, copy.fault))
    return [ctx.reply(rich)]
