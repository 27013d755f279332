"""!upprop [forum]: the roll call of the open meeting, by organisation and function."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.meetings import require_open, roll_call_text, which_forum
from bot.messages import Message, Outgoing


@command("upprop", en="rollcall", args=(Arg("forum", optional=True, rest=True),))
async def upprop(ctx: Context, forum: str | None) -> list[Outgoing]:
    chosen = which_forum(ctx, ctx.directory.forums.get(forum) if forum else None)
    meeting = await require_open(ctx, chosen)
    rich = await roll_call_text(ctx, chosen, meeting)
    here = ctx.forum_here() is chosen
    return [Message(target=ctx.incoming.room_id if here else chosen.room, body=rich.plain, html=rich.html,
                    ref=f"rollcall:{meeting.id}", reply_to=ctx.incoming.event_id if here else None)]
