"""!info <text>: log information in the open meeting."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.meetings import MAX_ENTRY, log
from bot.messages import Outgoing


@command("info", en="information", args=(Arg("text", rest=True, max_length=MAX_ENTRY),))
async def info(ctx: Context, text: str) -> list[Outgoing]:
    return await log(ctx, "info", text)
