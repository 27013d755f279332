"""!ikapp [forum]: everything someone joining an activation in progress needs, in one message."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.convocation import headline
from bot.flows.errors import UserError
from bot.flows.lagesbild import current_week, event_picture, render, week_picture, week_title
from bot.flows.meetings import directions_from_above, upcoming, when_with_week
from bot.messages import Outgoing
from bot.state import forums as forum_store
from bot.state import meetings


@command("ikapp", en="catchup", aliases=("i-kapp",), args=(Arg("forum", converters.forum, optional=True),),
         reads_only=True)
async def ikapp(ctx: Context, forum: Forum | None) -> list[Outgoing]:
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("report.which_forum")
    state = await forum_store.forum_state(ctx.session, forum.id)
    rich = headline(ctx, forum, state)
    if state.since:
        rich.text(f" ({ctx.t('status.since')} {ctx.when(state.since)})")
    if state.description:
        rich.br().text(state.description)
    year, week = await current_week(ctx, forum)
    if state.active:
        compiled = await event_picture(ctx, forum, state)
        title = ctx.t("report.event_title", event=state.event)
    else:
        compiled = await week_picture(ctx, forum, state, year, week)
        title = week_title(ctx, week)
    rich.br().br().extend(render(ctx, forum, title, compiled, short=True))
    entries = await meetings.in_force(ctx.session, forum.id, state.activation_id)
    rich.br().br().bold(ctx.t("catchup.in_force"))
    if not entries:
        rich.item().text("—")
    for entry in entries:
        rich.item().text(f"{ctx.t('log.kind.' + entry.kind)} #{entry.id}: {entry.text} ({ctx.when(entry.at)})")
    await directions_from_above(ctx, forum, state, rich)
    rich.br().bold(ctx.t("status.open_actions"))
    actions = await meetings.open_actions(ctx.session, forum.id)
    if not actions:
        rich.item().text("—")
    for action in actions:
        owner = ctx.directory.function(action.owner_function).name if action.owner_function else "—"
        due = f" — {ctx.t('minutes.due', when=ctx.when(action.due_at))}" if action.due_at else ""
        rich.item().text(f"{owner}: {action.text}{due}")
    nxt = [o for o in await upcoming(ctx, forum) if not o.cancelled]
    rich.br().text(f"{ctx.t('status.next_meeting')}: ")
    rich.text(f"{nxt[0].meeting.name} {when_with_week(ctx, nxt[0].starts_at)}" if nxt else ctx.t("status.no_meeting"))
    return [ctx.reply(rich)]
