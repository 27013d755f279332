"""!åtgärder [forum]: the forum's actions by organisation: open, overdue and done this week."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.errors import UserError
from bot.flows.meetings import action_state
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state.models import LogEntry
from bot.texts.rich import Rich

DONE_SHOWN = timedelta(days=7)


@command("åtgärder", en="actions", aliases=("atgarder",), args=(Arg("forum", converters.forum, optional=True),),
         reads_only=True)
async def atgarder(ctx: Context, forum: Forum | None) -> list[Outgoing]:
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("actions.which_forum")
    now = ctx.clock.now()
    actions = await store.actions_since(ctx.session, forum.id, now - DONE_SHOWN)
    rich = Rich().bold(ctx.t("actions.title", forum=forum.name))
    if not actions:
        return [ctx.reply(rich.br().text(ctx.t("actions.none")))]
    by_organisation: dict[str, list[LogEntry]] = defaultdict(list)
    for action in actions:
        owner = ctx.directory.function(action.owner_function) if action.owner_function else None
        by_organisation[ctx.directory.organisation(owner.organisation).name if owner else "—"].append(action)
    for organisation, entries in sorted(by_organisation.items()):
        rich.br().bold(organisation)
        for action in entries:
            action_state(ctx, action, rich.item().text(f"#{action.id} {action.text}"))
    return [ctx.reply(rich.br().text(ctx.t("actions.how")))]
