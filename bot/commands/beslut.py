"""!beslut <text>: log a decision in the open meeting (echoed to the log room)."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.meetings import MAX_ENTRY, log
from bot.messages import Outgoing


@command("beslut", en="decision", args=(Arg("text", rest=True, max_length=MAX_ENTRY),))
async def beslut(ctx: Context, text: str) -> list[Outgoing]:
    return await log(ctx, "decision", text)
