"""!kalender [forum]: the forum's coming meetings as an iCalendar file to add to a calendar."""

from __future__ import annotations

from dataclasses import replace

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.schedule import forum_occurrences
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.messages import Attachment, Outgoing
from bot.ops.ics import HORIZON, calendar
from bot.state import meetings as store
from bot.texts.rich import Rich


@command("kalender", en="calendar", aliases=("ics",), args=(Arg("forum", converters.forum, optional=True),),
         reads_only=True)
async def kalender(ctx: Context, forum: Forum | None) -> list[Outgoing]:
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("calendar.which_forum")
    now = ctx.clock.now()
    found = forum_occurrences(forum, now, now + HORIZON, ctx.tz, await store.changes(ctx.session))
    if not found:
        return [ctx.reply(Rich().text(ctx.t("status.no_meeting")))]
    data = calendar(forum, found, now)
    reply = ctx.reply(Rich().text(ctx.t("calendar.attached", forum=forum.name, count=len(found))))
    return [replace(reply, attachment=Attachment(f"{forum.id}.ics", "text/calendar", data))]
