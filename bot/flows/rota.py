"""Gaps in the duty schedules, found before they matter: a look 14 days ahead tells the organisation's home room
and the regional duty function of each stretch without a holder, with someone the bot does not know, or with
two on one function; once per gap, and again 24 hours before it starts if it is still there."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain import rota
from bot.domain.model import Function
from bot.domain.rota import Gap
from bot.flows.context import Context
from bot.flows.forums import holders_of
from bot.messages import Message, Outgoing, direct_target
from bot.state import repo
from bot.texts.rich import Rich

LOOK_AHEAD = timedelta(days=14)
REMIND_BEFORE = timedelta(hours=24)
TOLD = "rota_gap:"  # key prefix: rota_gap:<function>:<kind>:<anchor> -> {"told": …, "reminded": …}
STALE_TOLD = "rota_stale:"  # rota_stale:<function> -> since when the feed has been failing, once told


def gaps_ahead(ctx: Context, function: Function) -> list[Gap]:
    schedule = ctx.schedules.get(function.id)
    if schedule is None:
        return []
    now = ctx.clock.now()
    return rota.gaps(schedule, now, now + LOOK_AHEAD)


def span(ctx: Context, gap: Gap) -> str:
    return f"{ctx.when(gap.start)} – {ctx.when(gap.end)}"


def describe(ctx: Context, function: Function, gap: Gap) -> str:
    organisation = ctx.directory.organisation(function.organisation).name
    return ctx.t(f"rota.{gap.kind}", function=function.name, organisation=organisation, span=span(ctx, gap),
                 who=", ".join(gap.who))


def _anchor(gap: Gap, now: datetime) -> str:
    """What names a gap from one look to the next: its start, or for one under way its end."""
    return (gap.start if gap.start > now else gap.end).isoformat()


async def look_ahead(ctx: Context, function_ids: Sequence[str]) -> list[Outgoing]:
    now = ctx.clock.now()
    out: list[Outgoing] = []
    for function_id in function_ids:
        function = ctx.directory.function(function_id)
        for gap in gaps_ahead(ctx, function):
            key = f"{TOLD}{function.id}:{gap.kind}:{_anchor(gap, now)}"
            known = await repo.get_value(ctx.session, key)
            told = json.loads(known) if known else None
            soon = gap.start - now <= REMIND_BEFORE and gap.start > now
            if told is not None and (told["reminded"] or not soon):
                continue
            text = describe(ctx, function, gap)
            if told is not None:
                text = ctx.t("rota.reminder", text=text)
            out += await _tell(ctx, function, Rich().text(text))
            await repo.set_value(ctx.session, key, json.dumps({"told": now.isoformat(),
                                                               "reminded": told is not None or soon}))
    return out


async def _tell(ctx: Context, function: Function, rich: Rich) -> list[Outgoing]:
    """The organisation's home room, and each holder of the regional duty function by direct message (quietly)."""
    out: list[Outgoing] = []
    home = ctx.directory.organisation(function.organisation).home_room
    if home:
        out.append(Message(target=home, body=rich.plain, html=rich.html))
    duty = ctx.directory.settings.bot.rota_gaps_to
    if duty:
        out += [Message(target=direct_target(user), body=rich.plain, html=rich.html)
                for user in await holders_of(ctx, [duty])]
    return out


async def stale(ctx: Context, function_id: str, since: datetime) -> list[Outgoing]:
    """A schedule feed that has not answered well for a day: its organisation's home room is told once."""
    key = f"{STALE_TOLD}{function_id}"
    if await repo.get_value(ctx.session, key) == since.isoformat():
        return []
    await repo.set_value(ctx.session, key, since.isoformat())
    function = ctx.directory.function(function_id)
    home = ctx.directory.organisation(function.organisation).home_room
    rich = Rich().text(ctx.t("rota.stale", function=function.name, when=ctx.when(since)))
    return [Message(target=home, body=rich.plain, html=rich.html)] if home else []
