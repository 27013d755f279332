"""!schema [forum]: the next meetings in local time, with ISO week numbers, moves and cancellations."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.commands import converters
from bot.commands.context import Context
from bot.commands.registry import Arg, command
from bot.config import Forum
from bot.domain.schedule import Occurrence, forum_occurrences
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.texts.rich import Rich

HORIZON = timedelta(weeks=5)
SHOWN = 5  # occurrences per forum


def when_with_week(ctx: Context, instant: datetime) -> str:
    """'tor 26 nov 10:00 (v. 48)' in local time."""
    local = instant.astimezone(ctx.tz)
    day = ctx.t("weekdays").split()[local.weekday()]
    return f"{day} {ctx.when(instant)} ({ctx.t('week', week=local.isocalendar().week)})"


async def upcoming(ctx: Context, forum: Forum, horizon: timedelta = HORIZON) -> list[Occurrence]:
    changes = await store.changes(ctx.session)
    now = ctx.clock.now()
    return forum_occurrences(forum, now, now + horizon, ctx.tz, changes)


@command("schema", en="schedule", args=(Arg("forum", converters.forum, optional=True),))
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
