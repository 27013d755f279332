"""!schema [forum]: the next meetings, in local time with the ISO week."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.meetings import upcoming, when_with_week
from bot.messages import Outgoing
from bot.texts.rich import Rich

SHOWN = 5  # occurrences per forum


@command("schema", en="schedule", args=(Arg("forum", converters.forum, optional=True),), reads_only=True)
async def schema(ctx: Context, forum: Forum | None) -> list[Outgoing]:
    chosen = [forum] if forum else [f for f in ctx.directory.settings.forums if f.meetings]
    rich = Rich().bold(ctx.t("schema.title"))
    for item in chosen:
        rich.br().bold(item.name)
        shown = (await upcoming(ctx, item))[:SHOWN]
        if not shown:
            rich.item().text(ctx.t("status.no_meeting"))
        for occurrence in shown:
            rich.item().text(f"{when_with_week(ctx, occurrence.starts_at)} {occurrence.meeting.name}")
            if occurrence.cancelled:
                rich.text(" — " + ctx.t("schema.cancelled"))
            elif occurrence.moved:
                rich.text(" — " + ctx.t("schema.moved_from", when=ctx.when(occurrence.original)))
    return [ctx.reply(rich)]
