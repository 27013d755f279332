"""!åtgärd <funktion> <text> [senast <tid>]: log an action; its owner is reminded before it is due."""

from __future__ import annotations

from datetime import datetime

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Function
from bot.flows.context import Context
from bot.flows.errors import BadArgument
from bot.flows.meetings import MAX_ENTRY, due_at_end, log
from bot.messages import Outgoing


def parse_action(ctx: Context, text: str) -> tuple[Function, str, datetime | None]:
    """'trv-tlc röj E4 senast 18:00' -> (the function, 'röj E4', 18:00)."""
    words = text.split()
    owner: Function | None = None
    for size in (3, 2, 1):
        if len(words) > size - 1:
            found = ctx.directory.functions.get(" ".join(words[:size]))
            if found is not None:
                owner, words = found, words[size:]
                break
    if owner is None:
        if not words:
            raise BadArgument("error.missing_arg", arg=ctx.t("arg.function"))
        owner, words = converters.function(ctx, words[0]), words[1:]  # unknown: "did you mean"
    words, due = due_at_end(ctx, words)
    if not words:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.text"))
    return owner, " ".join(words), due


@command("åtgärd", en="action", aliases=("atgard",), args=(Arg("action", rest=True, max_length=MAX_ENTRY),),
         usage_override={"sv": "<funktion> <text> [senast <tid>]", "en": "<function> <text> [by <time>]"})
async def atgard(ctx: Context, action: str) -> list[Outgoing]:
    owner, text, due = parse_action(ctx, action)
    return await log(ctx, "action", text, owner, due)
