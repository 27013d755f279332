"""!protokoll [forum|nummer]: the minutes of the latest (or a given) meeting."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.flows.meetings import minutes
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state.models import MeetingRow


@command("protokoll", en="minutes", aliases=("minnesanteckningar", "anteckningar"),
         args=(Arg("meeting", optional=True, rest=True, max_length=100),), reads_only=True)
async def protokoll(ctx: Context, meeting: str | None) -> list[Outgoing]:
    found: MeetingRow | None
    number = (meeting or "").strip().lstrip("#")
    if number.isdecimal():
        # A number no meeting can have (beyond the database's integers) is simply not found.
        found = await store.get(ctx.session, int(number)) if len(number) <= 9 else None
    else:
        forum = ctx.directory.forums.get(meeting) if meeting else ctx.forum_here()
        if forum is None:
            raise UserError("minutes.which")
        found = await store.latest(ctx.session, forum.id)
    if found is None:
        raise UserError("minutes.none")
    return [ctx.reply(await minutes(ctx, ctx.directory.forum(found.forum_id), found))]
