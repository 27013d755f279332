"""!tjänstgör <funktion> [till <tid>] | slut: take over a function (stand-in), or give it back.

People listed for the function or for another function of its organisation may take it over;
an admin may also name someone else (`!tjänstgör lst-tib @bengt:example.org till 18:00`).
"""

from __future__ import annotations

from datetime import datetime

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Function
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.messages import Outgoing
from bot.state import repo
from bot.state import roster as store
from bot.texts.rich import Rich

UNTIL = {"till", "until", "to"}
RELEASE = {"slut", "klar", "end", "release", "done", "av", "off"}


def parse(ctx: Context, text: str) -> tuple[Function, str | None, datetime | None, bool]:
    """(function, someone else's id, until, release) from the words after the command."""
    words = text.split()
    person = next((w for w in words if w.startswith("@") and ":" in w), None)
    words = [w for w in words if w != person]
    release = bool(words) and normalise(words[-1]) in RELEASE
    if release:
        words = words[:-1]
    cut = next((i for i, w in enumerate(words) if normalise(w) in UNTIL), len(words))
    if cut == 0 or not words:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.function"))
    function = converters.function(ctx, " ".join(words[:cut]))
    until = None
    if cut < len(words):
        until = ctx.time_to_come(" ".join(words[cut + 1:]), "tjanstgor.bad_time")
    return function, person, until, release


@command("tjänstgör", en="takeover", aliases=("tjanstgor",), args=(Arg("function_until", rest=True, max_length=300),),
         usage_override={"sv": "<funktion> [till <tid>] | <funktion> slut", "en": "<function> [until <time>] | "
                         "<function> end"})
async def tjanstgor(ctx: Context, function_until: str) -> list[Outgoing]:
    function, person, until, release = parse(ctx, function_until)
    roster = await ctx.roster()
    admin = ctx.directory.is_admin(ctx.sender)
    if person is not None and not admin:
        raise NotAllowed("tjanstgor.others_admin_only", action="take_over")
    if not roster.may_stand_in(ctx.sender, function):
        raise NotAllowed("tjanstgor.refused", action="take_over", function=function.name)
    user = person or ctx.sender
    now = ctx.clock.now()
    if release:
        ended = await store.release(ctx.session, function.id, None if admin else user, now)
        if not ended:
            raise UserError("tjanstgor.nothing_to_release", function=function.name)
        await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="release",
                         event_id=ctx.incoming.event_id, detail={"user": user})
        after = (await ctx.roster(fresh=True)).duty(function.id, now)
        who = ", ".join(after.holders) or ctx.t("vem.nobody")
        return [ctx.reply(Rich().text(ctx.t("tjanstgor.released", function=function.name, who=who)))]
    await store.take_over(ctx.session, function.id, user, now, until, ctx.sender)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="take_over",
                     event_id=ctx.incoming.event_id,
                     detail={"user": user, "until": until.isoformat() if until else None})
    key = "tjanstgor.until" if until else "tjanstgor.open"
    rich = Rich().text(ctx.t(key, who=user, function=function.name, when=ctx.when(until) if until else ""))
    return [ctx.reply(rich)]
