"""!protokoll [forum|nummer]: the minutes of the latest (or a given) meeting."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.flows.meetings import minutes
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state.models import MeetingRow


@command("protokoll", en="minutes", args=(Arg("meeting", optional=True, rest=True, max_length=100),))
async def protokoll(ctx: Context, meeting: str | None) -> list[Outgoing]:
    found: MeetingRow | None
    if meeting and meeting.strip().lstrip("#").isdigit():
        found = await store.get(ctx.session, int(meeting.strip().lstrip("#")))
    else:
        forum = ctx.directory.forums.get(meeting) if meeting else ctx.forum_here()
        if forum is None:
            raise UserError("minutes.which")
        found = await store.latest(ctx.session, forum.id)
    if found is None:
        raise UserError("minutes.none")
    return [ctx.reply(await minutes(ctx, ctx.directory.forum(found.forum_id), found))]
