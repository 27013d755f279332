"""!rapport [forum] [för <organisation>] [vecka N] <text>: an actor's situation report (lägesbild).

Free text is always accepted; fields are optional (`konsekvenser: … ; åtgärder: … ; behov: …`).
`ingen förändring` carries the previous report forward. `för <organisation>` relays a report on
another organisation's behalf (förmedlad). A report belongs to the week of the meeting it is asked
for (from the request until the meeting starts), otherwise to the current week: an earlier week
is closed.
"""

from __future__ import annotations

import json

from bot.commands.registry import Arg, command
from bot.domain.lagesbild import FIELDS, parse
from bot.domain.model import Forum, Organisation
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.flows.lagesbild import coverage_line, current_week, week_picture
from bot.messages import Outgoing
from bot.state import forums as forum_store
from bot.state import repo
from bot.state import reports as store
from bot.state.models import ReportRow
from bot.texts.rich import Rich

FOR = {"for", "för"}
MAX_REPORT = 8000


async def _forum(ctx: Context, words: list[str]) -> tuple[Forum, list[str]]:
    """The forum named first, the room's forum, or the one forum the sender reports to."""
    if words and (named := ctx.directory.forums.get(words[0])) is not None:
        return named, words[1:]
    here = ctx.forum_here()
    if here is not None:
        return here, words
    held = {f.id for f in await ctx.held()}
    mine = [f for f in ctx.directory.settings.forums if held & set(f.members())]
    if len(mine) == 1:
        return mine[0], words
    raise UserError("report.which_forum")


def _relayed(ctx: Context, words: list[str]) -> tuple[Organisation | None, list[str]]:
    """'för SOS Alarm …' -> (SOS Alarm, the rest)."""
    if not words or normalise(words[0]) not in {normalise(w) for w in FOR}:
        return None, words
    for size in (4, 3, 2, 1):
        found = ctx.directory.organisations.get(" ".join(words[1:1 + size]))
        if found is not None and len(words) > size:
            return found, words[1 + size:]
    raise UserError("report.unknown_relay", name=" ".join(words[1:3]))


@command("rapport", en="report", aliases=("rapportera",),
         args=(Arg("report", optional=True, rest=True, max_length=MAX_REPORT),),
         usage_override={"sv": "[forum] [för <organisation>] <text | fält: … ; fält: …>",
                         "en": "[forum] [for <organisation>] <text | field: … ; field: …>"})
async def rapport(ctx: Context, report: str | None) -> list[Outgoing]:
    if not report:
        raise BadArgument("report.empty")
    first_line, _, more = report.partition("\n")
    forum, words = await _forum(ctx, first_line.split())
    relayed, words = _relayed(ctx, words)
    now = ctx.clock.now()
    year, week = await current_week(ctx, forum)
    if len(words) >= 2 and normalise(words[0]) in {"vecka", "week", "v"} and words[1].isdecimal():
        if int(words[1]) != week:
            later = int(words[1]) > week
            raise UserError("report.week_not_open" if later else "report.week_closed", week=words[1], current=week)
        words = words[2:]
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = (await ctx.authority(forum, state)).member
    if function is None:
        raise NotAllowed("report.refused", action="report", forum_id=forum.id, forum=forum.name)
    text = " ".join(words) + ("\n" + more if more else "")
    parsed = parse(text)
    if parsed.empty:
        raise BadArgument("report.empty")
    organisation = relayed.id if relayed else function.organisation
    row = ReportRow(forum_id=forum.id, organisation_id=organisation, function_id=function.id, author=ctx.sender,
                    at=now, year=year, week=week, activation_id=state.activation_id, event=state.event,
                    relayed_by=function.organisation if relayed else None, raw=text, text=parsed.text,
                    fields=json.dumps(parsed.fields, ensure_ascii=False), no_change=parsed.no_change)
    if parsed.no_change:
        previous = await store.latest_of(ctx.session, forum.id, organisation)
        if previous is None:
            raise UserError("report.nothing_to_carry")
        row.text, row.fields, row.carried_from = previous.text, previous.fields, previous.id
    await store.add(ctx.session, row)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="report",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"report": row.id, "organisation": organisation, "relayed": relayed is not None})
    compiled = await week_picture(ctx, forum, state, year, week)
    org_name = ctx.directory.organisation(organisation).name
    rich = Rich().text(ctx.t("report.received", organisation=org_name, week=week) + " " + coverage_line(ctx, compiled))
    if parsed.unknown:
        known = ", ".join(names[0] for _, names in FIELDS)
        rich.br().text(ctx.t("report.unknown_fields", names=", ".join(parsed.unknown), known=known))
    return [ctx.reply(rich)]
