"""!status: every forum's level, mode, chair, composition and next meeting."""

from __future__ import annotations

from datetime import datetime

from bot.commands import converters
from bot.commands.context import Context
from bot.commands.registry import Arg, command
from bot.config import Forum
from bot.domain.meetings import occurrences
from bot.messages import Message
from bot.texts.rich import Rich


def format_when(ctx: Context, instant: datetime) -> str:
    """Local time with ISO week, e.g. 'tor 26 nov 10:00 (v. 48)'."""
    local = instant.astimezone(ctx.tz)
    week = ctx.t("week", week=local.isocalendar().week)
    return f"{local:%Y-%m-%d %H:%M} ({week})"


def next_meeting(ctx: Context, forum: Forum) -> tuple[str, datetime] | None:
    now = ctx.clock.now()
    upcoming = [(m.name, when) for m in forum.meetings for when in occurrences(m, now, ctx.tz)]
    return min(upcoming, key=lambda pair: pair[1]) if upcoming else None


def forum_line(ctx: Context, forum: Forum, rich: Rich) -> None:
    chair = ctx.directory.function(forum.chair)
    rich.item().bold(forum.name).text(
        f" ({ctx.t('status.level.' + forum.level)}) — {ctx.t('status.mode.ordinary')}"
    )
    rich.br().text(f"   {ctx.t('status.chair')}: {chair.name}; ")
    rich.text(ctx.t("status.composition", count=len(forum.members())) + "; ")
    meeting = next_meeting(ctx, forum)
    if meeting:
        rich.text(f"{ctx.t('status.next_meeting')}: {meeting[0]} {format_when(ctx, meeting[1])}")
    else:
        rich.text(ctx.t("status.no_meeting"))


@command("status", en="status", aliases=("läge", "lage"), args=(Arg("forum", converters.forum, optional=True),))
async def status(ctx: Context, forum: Forum | None) -> list[Message]:
    rich = Rich().bold(ctx.t("status.title"))
    for item in [forum] if forum else ctx.directory.settings.forums:
        forum_line(ctx, item, rich)
    return [ctx.reply(rich)]
